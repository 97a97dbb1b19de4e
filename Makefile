# Shortcuts; the README's two commands need none of this.
PG ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.PHONY: test test-pg ci generate fuzz

test:
	go test -race -count=1 ./...

test-pg:
	HIP_TEST_POSTGRES_URL='$(PG)' go test -race -count=1 ./...

ci:
	CI=true bash .ci/run

# Rederive data/fhir-r4.json.gz from ../shared/fhir/r4-core.
generate:
	go generate ./internal/fhir/spec

# A short run of every fuzzer.
fuzz:
	go test -run '^$$' -fuzz FuzzParseMarshal -fuzztime 30s ./internal/fhir
	go test -run '^$$' -fuzz FuzzApply -fuzztime 30s ./internal/jsonpatch
	go test -run '^$$' -fuzz FuzzValidate -fuzztime 30s ./internal/fhir/validate
	go test -run '^$$' -fuzz FuzzParseSearch -fuzztime 30s ./internal/server
	go test -run '^$$' -fuzz FuzzServer -fuzztime 60s ./internal/server
	go test -run '^$$' -fuzz FuzzShape -fuzztime 30s ./internal/fhir/search
	go test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/fhir/search
	go test -run '^$$' -fuzz FuzzCompile -fuzztime 30s ./internal/fhir/fhirpath
