"""The live cluster's shared vocabulary: the store key layout, the records kept
under it, and the assembly of (Configuration, ClusterState) from a store snapshot."""
