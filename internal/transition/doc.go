// Package transition finds Tasker's state transitions in traces (docs/telemetry.md §4):
// spans whose attributes carry from_state/to_state, and span events that do. Both
// components use it, so the rules of where each value is looked up, and which values are
// accepted, live only here.
//
// # Bad input
//
// Bad input never changes a span: the extractor only reads. What it refuses or mends is
// counted in the Batch, by kind of entity (task, step, unknown), under these reasons (the
// String of each Problem and Anomaly):
//
// A carrier of from_state/to_state that is not recognised as a transition (Batch.Problems;
// the span passes untouched and nothing is kept of it):
//
//	wrong_type             from_state/to_state present, but not both strings
//	unknown_state          a state outside the kind's table (invalid UTF-8 included)
//	unclassified           neither ids, name nor states tell task from step
//	missing_id             no id for the decided kind
//	zero_timestamp         the timestamp is unset (0)
//	implausible_timestamp  the timestamp is before 2000-01-01 or later than the
//	                       collector's clock plus max_future_skew
//	oversized_id           the id (or a step's task id) is longer than max_id_bytes
//
// A value of a recognised transition or of a hint that was set aside or mended
// (Batch.Anomalies; the transition is still recognised and keeps everything else):
//
//	oversized_namespace          longer than max_name_bytes: treated as absent
//	oversized_handler            longer than max_name_bytes: treated as absent
//	oversized_correlation_id     longer than max_correlation_id_bytes: treated as absent
//	oversized_service            service.name or service.instance.id longer than
//	                             max_name_bytes: treated as absent
//	oversized_id                 an ordinary span's id longer than max_id_bytes: ignored
//	invalid_utf8_namespace       invalid bytes replaced with U+FFFD (each run with one)
//	invalid_utf8_handler         invalid bytes replaced with U+FFFD
//	invalid_utf8_correlation_id  invalid bytes replaced with U+FFFD
//	attempt_out_of_range         an int attempt outside 1..max_attempt: treated as absent
//	start_after_end              a transition span starts after it ends: the transition
//	                             is still at its transition_time timestamp
//
// A value treated as absent lets the look-up go on (the next key, the enclosing span, the
// resource), as for a value of the wrong type. Each anomaly is counted once per transition
// or hint that would have used the value. Ids are never repaired: they are never a label
// or a stamp, and they key the entity logs by their exact bytes, so that two distinct ids
// stay two.
package transition
