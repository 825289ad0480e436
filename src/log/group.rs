//! Consumer-group offsets, persisted as one small JSON file per group.
