//! telemeter (bootstrap)
