//! Loom models for telemeter live in tests/.
