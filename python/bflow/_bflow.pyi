"""Type stubs of the extension module ``bflow._bflow`` (Rust, PyO3).

Use the package ``bflow``: it holds the defaults and the documentation; these functions
take every option by keyword and have none.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

def diagnose(
    array: npt.NDArray[Union[np.float32, np.float64]],
    *,
    gram: bool,
    weights: Optional[List[float]],
    full_cosines: bool,
    conflicts: int,
) -> Dict[str, Any]:
    """Columns over the steps: ``B``, ``I``, ``abs_I_plus_half``, ``sum_norm`` (T,),
    ``degenerate`` (T,) bool, ``norms`` (T, K), ``cosines`` (T, K, K) or None,
    ``b_resolution`` (T,) or None, ``conflicts``, ``notes``, ``warnings`` (lists per step),
    ``K``, ``n``, ``source``."""

def map(
    problem: Any,
    *,
    starts: Optional[int],
    max_starts: int,
    seed: int,
    shard: Union[str, Tuple[int, int], None],
    searchers: Union[Sequence[str], str, None],
    bflow_steps: int,
    mode_starts: bool,
    max_time: Optional[float],
    per_start: bool,
    prove: Union[bool, float, None],
) -> Dict[str, Any]: ...
def merge(
    maps: Sequence[Union[Dict[str, Any], str]],
    problem: Any,
    *,
    prove: Union[bool, float, None],
) -> Dict[str, Any]: ...
def run(
    problem: Any,
    *,
    method: str,
    rule: str,
    start: Union[Sequence[float], str, None],
    steps: int,
    step_size: Optional[float],
    eps_switch: float,
    stagnation: int,
    floor_steps: int,
    max_time: Optional[float],
    matrix_free: bool,
) -> Dict[str, Any]: ...
def problems() -> List[Tuple[str, str]]: ...
def problem_toml(dict: Dict[str, Any]) -> str: ...
