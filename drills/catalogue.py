"""Every drill the runner knows: the failover faults, the day-2 operations and the
data lifecycle's full disk, the durability and stall drills."""

from .disk import DiskFull
from .durability import LaggingStandbys, StandbyLoss
from .faults import FAILOVER
from .membership import AddNode, DcsMemberReplace, NodeReplace, RemoveNode
from .rotation import RotateSecrets
from .stall import StallLong, StallShort
from .upgrade import RollingUpgrade

# Operations on a running cluster, in the order `make drills-day2` runs them (remove-node
# takes out the node add-node brought in).
DAY2 = {f.name: f for f in (AddNode, RemoveNode, NodeReplace, DcsMemberReplace, RollingUpgrade, RotateSecrets)}
CATALOGUE = {**FAILOVER, **DAY2, **{f.name: f for f in (DiskFull, StandbyLoss, LaggingStandbys, StallShort, StallLong)}}
