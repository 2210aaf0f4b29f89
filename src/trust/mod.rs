//! The trust pipeline: parse → signature → certificate path → agency binding, one verdict.
