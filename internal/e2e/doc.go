// Package e2e tests the hip binary from the outside, as operators and facility systems
// meet it: it builds cmd/hip once, runs `hip serve` as a subprocess over a real SQLite
// file or PostgreSQL database (when HIP_TEST_POSTGRES_URL is set), talks HTTP to it,
// and stops it with SIGTERM or kills it with SIGKILL. The package has only tests.
package e2e
