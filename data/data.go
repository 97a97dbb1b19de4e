// Package data holds the reference data shipped inside the binary. Each file's
// source, version and licence are listed in SOURCES.md.
package data

import "embed"

// FHIRR4 is the compact, gzip'd JSON form of the FHIR R4 (4.0.1) definitions,
// generated from hl7.fhir.r4.core by internal/fhir/spec/gen and read by spec.Load.
// A string rather than a []byte so that no one can change it.
//
//go:embed fhir-r4.json.gz
var FHIRR4 string

// OpenCCTraditionalToSimplified is OpenCC's TSCharacters table: one
// traditional character per line, a tab, then its simplified forms separated
// by spaces (the first is the usual one); lines starting with # are comments.
//
//go:embed opencc/TSCharacters.txt
var OpenCCTraditionalToSimplified string

// EMPIDefaultModel is the master patient index's default model (JSON of
// empi.Model): trained with the default configuration on a synthetic
// region, used until a region relinks on its own records. Written by
// go test ./internal/empi -run DefaultModel -update.
//
//go:embed empi-model.json
var EMPIDefaultModel string

// Terminology holds the code systems, value sets and concept maps HIP
// ships (package terminology), one FHIR resource per JSON file.
//
//go:embed terminology
var Terminology embed.FS

// Profiles holds the China core profiles and extension definitions HIP
// ships (StructureDefinitions, package validate), one JSON file each.
//
//go:embed profiles
var Profiles embed.FS

// UCUMEssence holds the UCUM prefixes and unit atoms, one a line with
// tab-separated fields (lines starting with # are comments), extracted from
// ucum-essence.xml by internal/ucum/gen and read by ucum.Validate.
//
//go:embed ucum/essence.tsv
var UCUMEssence string
