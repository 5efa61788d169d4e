//! Equilibrium maps.
