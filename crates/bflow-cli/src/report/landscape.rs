//! Disconnectivity graphs (Becker & Karplus 1997; Wales, Miller & Walsh 1998): the tree of
//! an energy landscape's minima, here with energy `Σ L`.
//!
//! Each minimum is a leaf at its energy. Sweeping a level `E` upward, two groups of minima
//! join ("superbasins") at the lowest `E` at which some index-1 saddle with energy `≤ E`
//! connects a minimum of one group to a minimum of the other; the tree's inner node sits at
//! that saddle's energy. Groups joined at exactly the same level become one node with several
//! children. Minima that no saddle connects stay separate trees.
//!
//! The construction ([`DisconnectivityGraph::new`]) is union–find over the minima with the
//! connections taken in ascending saddle energy, which is the sweep over every distinct level.

/// An index-1 saddle and the minima its two descent paths reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The saddle's equilibrium index.
    pub saddle: usize,
    /// `Σ L` at the saddle.
    pub saddle_energy: f64,
    /// The minima (equilibrium indices) at the two ends; `None` where that side leaves the
    /// region or reaches no mapped minimum.
    pub minima: [Option<usize>; 2],
}

/// What a disconnectivity graph is built from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Landscape {
    /// `(equilibrium index, Σ L)` of each minimum.
    pub minima: Vec<(usize, f64)>,
    /// The index-1 saddles with the minima they connect (empty when none were computed).
    pub connections: Vec<Connection>,
}

/// What a node of the tree is.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A minimum.
    Leaf {
        /// Its equilibrium index.
        equilibrium: usize,
    },
    /// Groups joined at a level.
    Join {
        /// The saddles (equilibrium indices) that join the children at this level.
        saddles: Vec<usize>,
    },
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// Where the node sits: a leaf's `Σ L`, or the level at which its children join.
    pub level: f64,
    /// Leaf or join.
    pub kind: NodeKind,
    /// Children (node ids), ordered by their lowest energy, then by leaf index.
    pub children: Vec<usize>,
    /// The node its group joins next (`None` for the top of a tree).
    pub parent: Option<usize>,
    /// The lowest leaf energy below this node.
    pub lowest: f64,
}

/// A saddle whose other side leaves the region or reaches no mapped minimum: the group holding
/// `node` at `level` is connected to something outside the graph there.
#[derive(Debug, Clone, PartialEq)]
pub struct Escape {
    /// The node whose group the saddle leads out of, at the saddle's level.
    pub node: usize,
    /// The saddle's `Σ L`.
    pub level: f64,
    /// The saddle's equilibrium index.
    pub saddle: usize,
}

/// The tree (a forest when some minima are never connected).
#[derive(Debug, Clone, PartialEq)]
pub struct DisconnectivityGraph {
    /// Every node; leaves first, in the order of [`Landscape::minima`] (finite energies only).
    pub nodes: Vec<GraphNode>,
    /// The top node of each separate tree, by lowest energy.
    pub roots: Vec<usize>,
    /// Leaves (node ids) from left to right: each tree's leaves are contiguous, children
    /// ordered by their lowest energy.
    pub leaf_order: Vec<usize>,
    /// Saddles that lead out of the graph.
    pub escapes: Vec<Escape>,
    /// Saddles whose level had to be raised to the higher of its two groups' current levels
    /// (a saddle cannot lie below a minimum it connects; rounding can put it a few ulps
    /// there): `(saddle, given level, level used)`.
    pub raised: Vec<(usize, f64, f64)>,
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

impl DisconnectivityGraph {
    /// Builds the tree. Minima with a non-finite energy, and connections with a non-finite
    /// saddle energy, are left out (nothing is drawn where `Σ L` is undefined); a connection
    /// end that names no listed minimum counts as leading out of the graph; a connection whose
    /// two ends are in one group already changes nothing. Connections are taken in ascending
    /// saddle energy, ties by saddle index, so the result does not depend on their order.
    pub fn new(landscape: &Landscape) -> Self {
        let minima: Vec<(usize, f64)> = landscape
            .minima
            .iter()
            .copied()
            .filter(|m| m.1.is_finite())
            .collect();
        let mut nodes: Vec<GraphNode> = minima
            .iter()
            .map(|&(equilibrium, level)| GraphNode {
                level,
                kind: NodeKind::Leaf { equilibrium },
                children: Vec::new(),
                parent: None,
                lowest: level,
            })
            .collect();
        let leaf_of = |eq: usize| minima.iter().position(|m| m.0 == eq);
        // Union–find over leaves; `top[root]` is the group's current tree node.
        let mut uf: Vec<usize> = (0..minima.len()).collect();
        let mut top: Vec<usize> = (0..minima.len()).collect();
        let mut connections: Vec<&Connection> = landscape
            .connections
            .iter()
            .filter(|c| c.saddle_energy.is_finite())
            .collect();
        connections.sort_by(|a, b| {
            a.saddle_energy
                .total_cmp(&b.saddle_energy)
                .then(a.saddle.cmp(&b.saddle))
        });
        let mut escapes = Vec::new();
        let mut raised = Vec::new();
        for c in connections {
            let ends = c.minima.map(|m| m.and_then(leaf_of));
            match ends {
                [Some(a), Some(b)] => {
                    let (ra, rb) = (find(&mut uf, a), find(&mut uf, b));
                    if ra == rb {
                        continue;
                    }
                    let (na, nb) = (top[ra], top[rb]);
                    let floor = nodes[na].level.max(nodes[nb].level);
                    let level = if c.saddle_energy < floor {
                        raised.push((c.saddle, c.saddle_energy, floor));
                        floor
                    } else {
                        c.saddle_energy
                    };
                    let is_join_at =
                        |n: &GraphNode| matches!(n.kind, NodeKind::Join { .. }) && n.level == level;
                    // A group that already joined at this very level absorbs the other.
                    let merged = match (is_join_at(&nodes[na]), is_join_at(&nodes[nb])) {
                        (true, true) => {
                            let moved = std::mem::take(&mut nodes[nb].children);
                            let NodeKind::Join { saddles } = nodes[nb].kind.clone() else {
                                unreachable!("checked to be a join")
                            };
                            for &ch in &moved {
                                nodes[ch].parent = Some(na);
                            }
                            nodes[na].children.extend(moved);
                            if let NodeKind::Join { saddles: s } = &mut nodes[na].kind {
                                s.extend(saddles);
                                s.push(c.saddle);
                            }
                            // nb is now empty and unreachable: it has no parent or children.
                            na
                        }
                        (true, false) | (false, true) => {
                            let (host, guest) = if is_join_at(&nodes[na]) {
                                (na, nb)
                            } else {
                                (nb, na)
                            };
                            nodes[guest].parent = Some(host);
                            nodes[host].children.push(guest);
                            if let NodeKind::Join { saddles } = &mut nodes[host].kind {
                                saddles.push(c.saddle);
                            }
                            host
                        }
                        (false, false) => {
                            let id = nodes.len();
                            nodes.push(GraphNode {
                                level,
                                kind: NodeKind::Join {
                                    saddles: vec![c.saddle],
                                },
                                children: vec![na, nb],
                                parent: None,
                                lowest: f64::INFINITY,
                            });
                            nodes[na].parent = Some(id);
                            nodes[nb].parent = Some(id);
                            id
                        }
                    };
                    nodes[merged].lowest = nodes[na].lowest.min(nodes[nb].lowest);
                    uf[rb] = ra;
                    top[ra] = merged;
                }
                [Some(a), None] | [None, Some(a)] => {
                    let r = find(&mut uf, a);
                    escapes.push(Escape {
                        node: top[r],
                        level: c.saddle_energy,
                        saddle: c.saddle,
                    });
                }
                [None, None] => {}
            }
        }
        // Emptied joins (absorbed into another join at the same level) are dropped from the
        // forest: they have no children and no parent, and no leaf reaches them.
        let first_leaf_of = |nodes: &[GraphNode], id: usize| {
            let mut id = id;
            while let Some(&c) = nodes[id].children.first() {
                id = c;
            }
            id
        };
        let key = |nodes: &[GraphNode], id: usize| (nodes[id].lowest, first_leaf_of(nodes, id));
        for id in 0..nodes.len() {
            let mut children = std::mem::take(&mut nodes[id].children);
            children.sort_by(|&a, &b| {
                let (ka, kb) = (key(&nodes, a), key(&nodes, b));
                ka.0.total_cmp(&kb.0).then(ka.1.cmp(&kb.1))
            });
            nodes[id].children = children;
        }
        let mut roots: Vec<usize> = (0..nodes.len())
            .filter(|&id| {
                nodes[id].parent.is_none()
                    && (matches!(nodes[id].kind, NodeKind::Leaf { .. })
                        || !nodes[id].children.is_empty())
            })
            .collect();
        roots.sort_by(|&a, &b| {
            let (ka, kb) = (key(&nodes, a), key(&nodes, b));
            ka.0.total_cmp(&kb.0).then(ka.1.cmp(&kb.1))
        });
        let mut leaf_order = Vec::with_capacity(minima.len());
        let mut stack: Vec<usize> = roots.iter().rev().copied().collect();
        while let Some(id) = stack.pop() {
            if nodes[id].children.is_empty() {
                leaf_order.push(id);
            } else {
                stack.extend(nodes[id].children.iter().rev());
            }
        }
        Self {
            nodes,
            roots,
            leaf_order,
            escapes,
            raised,
        }
    }

    /// The node id of the leaf for equilibrium `eq`.
    pub fn leaf(&self, eq: usize) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.kind == NodeKind::Leaf { equilibrium: eq })
    }

    /// The level at which minima `a` and `b` (equilibrium indices) are first in one group:
    /// the level of their lowest common ancestor; `None` when they are in separate trees or
    /// not in the graph. For `a = b` it is the minimum's own energy.
    pub fn join_level(&self, a: usize, b: usize) -> Option<f64> {
        let ancestors = |mut id: usize| {
            let mut out = vec![id];
            while let Some(p) = self.nodes[id].parent {
                out.push(p);
                id = p;
            }
            out
        };
        let (pa, pb) = (ancestors(self.leaf(a)?), ancestors(self.leaf(b)?));
        pa.iter()
            .find(|id| pb.contains(id))
            .map(|&id| self.nodes[id].level)
    }

    /// Horizontal positions: leaf `k` of [`leaf_order`](Self::leaf_order) at `k`, a join at
    /// the middle of its first and last child (indexed by node id; nodes in no tree get NaN).
    pub fn positions(&self) -> Vec<f64> {
        let mut x = vec![f64::NAN; self.nodes.len()];
        for (k, &id) in self.leaf_order.iter().enumerate() {
            x[id] = k as f64;
        }
        // Post-order from the roots: every child is placed before its parent.
        let mut stack: Vec<(usize, bool)> = self.roots.iter().map(|&r| (r, false)).collect();
        while let Some((id, children_done)) = stack.pop() {
            let ch = &self.nodes[id].children;
            let (Some(&first), Some(&last)) = (ch.first(), ch.last()) else {
                continue;
            };
            if children_done {
                x[id] = 0.5 * (x[first] + x[last]);
            } else {
                stack.push((id, true));
                stack.extend(ch.iter().map(|&c| (c, false)));
            }
        }
        x
    }

    /// The number of minima (leaves).
    pub fn leaves(&self) -> usize {
        self.leaf_order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(saddle: usize, e: f64, a: Option<usize>, b: Option<usize>) -> Connection {
        Connection {
            saddle,
            saddle_energy: e,
            minima: [a, b],
        }
    }

    /// Müller–Brown-like: minima A (0), B (1), C (2) at −146.7, −108.2, −80.8; saddle S1 (3)
    /// joins A–B at −40.7, saddle S2 (4) joins B–C at `s2`.
    fn three_wells(s2: f64) -> Landscape {
        Landscape {
            minima: vec![(0, -146.7), (1, -108.2), (2, -80.8)],
            connections: vec![
                conn(4, s2, Some(1), Some(2)),
                conn(3, -40.7, Some(0), Some(1)),
            ],
        }
    }

    #[test]
    fn chain_with_the_lower_saddle_first_joins_a_b_then_c() {
        let g = DisconnectivityGraph::new(&three_wells(-20.0));
        assert_eq!(g.join_level(0, 1), Some(-40.7));
        assert_eq!(g.join_level(1, 2), Some(-20.0));
        assert_eq!(g.join_level(0, 2), Some(-20.0));
        assert_eq!(g.join_level(2, 2), Some(-80.8));
        assert_eq!(g.roots.len(), 1);
        let root = &g.nodes[g.roots[0]];
        assert_eq!(root.level, -20.0);
        assert_eq!(root.lowest, -146.7);
        assert_eq!(root.kind, NodeKind::Join { saddles: vec![4] });
        // The A–B group (lowest −146.7) comes before C.
        assert_eq!(root.children.len(), 2);
        assert_eq!(g.nodes[root.children[0]].level, -40.7);
        assert_eq!(
            g.nodes[root.children[1]].kind,
            NodeKind::Leaf { equilibrium: 2 }
        );
        let order: Vec<usize> = g.leaf_order.clone();
        assert_eq!(order, vec![0, 1, 2]);
        let x = g.positions();
        assert_eq!(x[root.children[0]], 0.5);
        assert_eq!(x[g.roots[0]], 1.25);
        assert!(g.escapes.is_empty() && g.raised.is_empty());
    }

    #[test]
    fn chain_with_the_higher_saddle_first_joins_b_c_then_a() {
        // The levels of Müller–Brown itself, where the lower saddle (−72.2) joins its two
        // higher minima first (there S1 joins A and C, S2 joins C and B: the same tree).
        let g = DisconnectivityGraph::new(&three_wells(-72.2));
        assert_eq!(g.join_level(1, 2), Some(-72.2));
        assert_eq!(g.join_level(0, 1), Some(-40.7));
        assert_eq!(g.join_level(0, 2), Some(-40.7));
        let root = &g.nodes[g.roots[0]];
        assert_eq!(root.kind, NodeKind::Join { saddles: vec![3] });
        // A alone (lowest) first, then the B–C group.
        assert_eq!(
            g.nodes[root.children[0]].kind,
            NodeKind::Leaf { equilibrium: 0 }
        );
        assert_eq!(g.nodes[root.children[1]].level, -72.2);
    }

    #[test]
    fn unconnected_minima_are_separate_trees_and_open_ends_are_escapes() {
        let mut l = three_wells(-20.0);
        l.minima.push((7, -200.0));
        l.connections.push(conn(8, -10.0, Some(7), None));
        l.connections.push(conn(9, -90.0, None, Some(1)));
        l.connections.push(conn(10, -5.0, Some(99), Some(2)));
        l.connections.push(conn(11, f64::NAN, Some(7), Some(0)));
        let g = DisconnectivityGraph::new(&l);
        assert_eq!(g.roots.len(), 2);
        // The lowest tree first: the lone minimum 7.
        assert_eq!(g.nodes[g.roots[0]].kind, NodeKind::Leaf { equilibrium: 7 });
        assert_eq!(g.join_level(7, 0), None);
        assert_eq!(g.leaf_order.len(), 4);
        assert_eq!(g.escapes.len(), 3);
        // Escape at −90 leaves minimum 1 while it is still alone (A–B join at −40.7).
        let e = g.escapes.iter().find(|e| e.saddle == 9).unwrap();
        assert_eq!(e.node, g.leaf(1).unwrap());
        // Escape at −5 (an unknown minimum 99) leaves the whole A–B–C tree.
        let e = g.escapes.iter().find(|e| e.saddle == 10).unwrap();
        assert_eq!(e.node, g.roots[1]);
    }

    #[test]
    fn groups_joined_at_one_level_become_one_node_in_any_input_order() {
        let mut l = Landscape {
            minima: vec![(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)],
            connections: vec![
                conn(10, 5.0, Some(0), Some(1)),
                conn(11, 5.0, Some(2), Some(3)),
                conn(12, 5.0, Some(1), Some(2)),
                conn(13, 6.0, Some(0), Some(3)), // redundant: already one group
            ],
        };
        let g = DisconnectivityGraph::new(&l);
        assert_eq!(g.roots.len(), 1);
        let root = &g.nodes[g.roots[0]];
        assert_eq!(root.level, 5.0);
        assert_eq!(root.children.len(), 4);
        let NodeKind::Join { saddles } = &root.kind else {
            panic!()
        };
        let mut s = saddles.clone();
        s.sort();
        assert_eq!(s, vec![10, 11, 12]);
        l.connections.reverse();
        let h = DisconnectivityGraph::new(&l);
        assert_eq!(h.nodes[h.roots[0]].children.len(), 4);
        assert_eq!(h.join_level(0, 3), Some(5.0));
    }

    #[test]
    fn a_saddle_below_its_minima_is_raised_and_reported() {
        let l = Landscape {
            minima: vec![(0, 1.0), (1, 2.0), (2, f64::INFINITY)],
            connections: vec![conn(5, 2.0 - 1e-15, Some(0), Some(1))],
        };
        let g = DisconnectivityGraph::new(&l);
        assert_eq!(g.leaves(), 2);
        assert_eq!(g.join_level(0, 1), Some(2.0));
        assert_eq!(g.raised, vec![(5, 2.0 - 1e-15, 2.0)]);
    }

    #[test]
    fn an_empty_landscape_is_an_empty_forest() {
        let g = DisconnectivityGraph::new(&Landscape::default());
        assert!(g.nodes.is_empty() && g.roots.is_empty() && g.leaf_order.is_empty());
    }
}
