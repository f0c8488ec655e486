// Package bench holds the cutover benchmarks (BenchmarkCutover through the
// router alone, BenchmarkCutoverServe through `termshift serve` and the
// cutover and rollback commands): what a cutover costs the users of a
// release. The traffic comes from package loadgen. Run them with
// `make bench-cutover`.
package bench
