// Package spec holds the FHIR R4 definitions the platform works from: resource and
// data type structures, search parameters, compartments and the value sets of
// required bindings. They are derived from the official hl7.fhir.r4.core package by
// ./gen and embedded from package data, so nothing is read from disk at run time.
package spec

//go:generate go run ./gen -src ../../../../shared/fhir/r4-core -out ../../../data/fhir-r4.json.gz

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hip-platform/hip/data"
)

// Type kinds.
const (
	KindResource      = "resource"
	KindComplexType   = "complex-type"
	KindPrimitiveType = "primitive-type"
)

// Binding strengths.
const BindingRequired = "required"

// File is the compact on-disk form of the definitions, written by ./gen and read by
// Load. It is one type for both sides so the two cannot drift apart.
type File struct {
	FHIRVersion  string            `json:"fhirVersion"`
	Types        []*TypeDef        `json:"types"`
	SearchParams []*SearchParam    `json:"searchParams"`
	Compartments []*CompartmentDef `json:"compartments"`
	ValueSets    []*ValueSet       `json:"valueSets"`
	Extensions   []*ExtensionDef   `json:"extensions"`
}

// TypeDef is a resource, complex or primitive type (a StructureDefinition of
// derivation specialization, or one of the roots Resource and Element).
type TypeDef struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Abstract bool   `json:"abstract,omitempty"`
	Base     string `json:"base,omitempty"` // name of the base type; "" for Resource and Element
	// Regex is the value pattern of a primitive type (unanchored, as published).
	// The primitive's own "value" element is not kept: Regex describes it.
	Regex    string        `json:"regex,omitempty"`
	Elements []*ElementDef `json:"elements"` // snapshot order; the first is the type itself

	byPath map[string]*ElementDef
}

// Element returns the element with that path (e.g. "Patient.name.given",
// "Observation.value[x]"), or nil.
func (t *TypeDef) Element(path string) *ElementDef { return t.byPath[path] }

// ElementDef is one snapshot element.
type ElementDef struct {
	Path  string    `json:"path"`
	Types []TypeRef `json:"types,omitempty"`
	Min   int       `json:"min,omitempty"`
	Max   string    `json:"max"`
	// ContentReference is the path of the element whose definition this one reuses
	// (Questionnaire.item.item → Questionnaire.item), without the leading '#'.
	ContentReference string   `json:"contentReference,omitempty"`
	Binding          *Binding `json:"binding,omitempty"`
	// Summary is ElementDefinition.isSummary: the element is part of the
	// _summary=true form of its parent.
	Summary bool `json:"isSummary,omitempty"`
	// Modifier is ElementDefinition.isModifier: the element changes the meaning
	// of its parent, so a reader that drops it misreads the rest.
	Modifier bool `json:"isModifier,omitempty"`
	// Constraints are the invariants this type defines on the element (not
	// those it inherits: each is kept on the type that defines it).
	Constraints []Constraint `json:"constraints,omitempty"`
}

// Constraint is an invariant: a FHIRPath expression that must be true of
// each instance of its element.
type Constraint struct {
	Key        string `json:"key"`
	Severity   string `json:"severity"` // error | warning
	Human      string `json:"human"`
	Expression string `json:"expression"`
}

// Name is the last path segment, e.g. "value[x]".
func (e *ElementDef) Name() string { return e.Path[strings.LastIndexByte(e.Path, '.')+1:] }

// IsChoice reports whether the element is a choice of types (name ends in [x]).
func (e *ElementDef) IsChoice() bool { return strings.HasSuffix(e.Path, "[x]") }

// IsArray reports whether the element repeats, and so is a JSON array.
func (e *ElementDef) IsArray() bool { return e.Max != "1" && e.Max != "0" }

// TypeRef is one allowed type of an element.
type TypeRef struct {
	Code string `json:"code"`
	// Targets are the type names a Reference or canonical may point to.
	Targets []string `json:"targets,omitempty"`
}

// Binding ties a coded element to a value set.
type Binding struct {
	Strength string `json:"strength"`
	ValueSet string `json:"valueSet,omitempty"` // canonical URL without version
}

// ExtensionDef is an extension the specification defines
// (StructureDefinition-*.json of type Extension).
type ExtensionDef struct {
	URL      string   `json:"url"`
	Contexts []string `json:"contexts,omitempty"` // where it may be used (element paths)
	Types    []string `json:"types,omitempty"`    // its value's types; none: nested extensions only
}

// SearchParam is one SearchParameter.
type SearchParam struct {
	URL         string      `json:"url"`
	Name        string      `json:"name"`
	Code        string      `json:"code"`
	Base        []string    `json:"base"`
	Type        string      `json:"type"`
	Expression  string      `json:"expression,omitempty"` // FHIRPath
	XPathUsage  string      `json:"xpathUsage,omitempty"`
	Target      []string    `json:"target,omitempty"`
	MultipleOr  *bool       `json:"multipleOr,omitempty"` // nil when the definition leaves it out
	MultipleAnd *bool       `json:"multipleAnd,omitempty"`
	Modifier    []string    `json:"modifier,omitempty"`
	Comparator  []string    `json:"comparator,omitempty"`
	Component   []Component `json:"component,omitempty"`
}

// Component is one part of a composite search parameter.
type Component struct {
	Definition string `json:"definition"` // URL of the component's SearchParameter
	Expression string `json:"expression"` // FHIRPath relative to the composite's expression
}

// CompartmentDef lists, per resource type, the search parameters that place a
// resource in a compartment (e.g. Observation is in a Patient's compartment through
// subject and performer).
type CompartmentDef struct {
	Code      string                `json:"code"`
	URL       string                `json:"url"`
	Resources []CompartmentResource `json:"resources"`
}

// CompartmentResource is one resource type of a compartment definition.
type CompartmentResource struct {
	Type   string   `json:"type"`
	Params []string `json:"params,omitempty"`
}

// Params returns the parameter names linking resourceType to the compartment; nil
// when the type is not in it.
func (c *CompartmentDef) Params(resourceType string) []string {
	for i := range c.Resources {
		if c.Resources[i].Type == resourceType {
			return c.Resources[i].Params
		}
	}
	return nil
}

// ValueSet is the expansion of a value set used by a required binding.
type ValueSet struct {
	URL string `json:"url"`
	// Enumerable is false when the value set draws on a code system that cannot be
	// listed (BCP-47 languages, MIME types, UCUM, ...) or is not in the package;
	// Concepts is then empty and membership cannot be decided.
	Enumerable bool      `json:"enumerable"`
	Concepts   []Concept `json:"concepts,omitempty"`

	bySystemCode map[systemCode]struct{}
	byCode       map[string]struct{}
}

// Concept is one code of an expansion.
type Concept struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type systemCode struct{ system, code string }

// Contains reports whether the expansion holds code in system. An empty system
// matches the code in any system, for elements of type code that carry no system.
func (v *ValueSet) Contains(system, code string) bool {
	if system == "" {
		_, ok := v.byCode[code]
		return ok
	}
	_, ok := v.bySystemCode[systemCode{system, code}]
	return ok
}

// Definitions is the loaded, indexed set of definitions. It is read-only after Load
// and safe for concurrent use.
type Definitions struct {
	fhirVersion   string
	types         map[string]*TypeDef
	resourceTypes []string
	params        map[string][]*SearchParam // resource type → params, by code
	paramByCode   map[string]map[string]*SearchParam
	paramByURL    map[string]*SearchParam
	compartments  map[string]*CompartmentDef
	valueSets     map[string]*ValueSet
	extensions    map[string]*ExtensionDef
}

// Load decodes the embedded definitions and indexes them.
func Load() (*Definitions, error) {
	f, err := Decode(strings.NewReader(data.FHIRR4))
	if err != nil {
		return nil, fmt.Errorf("spec: load embedded FHIR R4 definitions: %w", err)
	}
	return newDefinitions(f)
}

// Encode writes f in the embedded form: gzip'd JSON, with a fixed gzip header so the
// same input always gives the same bytes.
func Encode(w io.Writer, f *File) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("spec: encode definitions: %w", err)
	}
	return zw.Close()
}

// Decode reads the form Encode writes.
func Decode(r io.Reader) (*File, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.NewDecoder(zr).Decode(&f); err != nil {
		return nil, err
	}
	return &f, zr.Close()
}

func newDefinitions(f *File) (*Definitions, error) {
	d := &Definitions{
		fhirVersion:  f.FHIRVersion,
		types:        make(map[string]*TypeDef, len(f.Types)),
		params:       map[string][]*SearchParam{},
		paramByCode:  map[string]map[string]*SearchParam{},
		paramByURL:   make(map[string]*SearchParam, len(f.SearchParams)),
		compartments: make(map[string]*CompartmentDef, len(f.Compartments)),
		valueSets:    make(map[string]*ValueSet, len(f.ValueSets)),
		extensions:   make(map[string]*ExtensionDef, len(f.Extensions)),
	}
	for _, x := range f.Extensions {
		d.extensions[x.URL] = x
	}
	for _, t := range f.Types {
		t.byPath = make(map[string]*ElementDef, len(t.Elements))
		for _, e := range t.Elements {
			t.byPath[e.Path] = e
		}
		d.types[t.Name] = t
	}
	for _, t := range f.Types {
		if t.Base != "" && d.types[t.Base] == nil {
			return nil, fmt.Errorf("spec: type %s has unknown base %s", t.Name, t.Base)
		}
		if t.Kind == KindResource && !t.Abstract {
			d.resourceTypes = append(d.resourceTypes, t.Name)
		}
	}
	slices.Sort(d.resourceTypes)

	for _, p := range f.SearchParams {
		d.paramByURL[p.URL] = p
	}
	// A parameter whose base is Resource or DomainResource applies to every type
	// derived from it, so walk each resource type's base chain.
	for _, rt := range d.resourceTypes {
		byCode := map[string]*SearchParam{}
		for _, p := range f.SearchParams {
			for _, b := range p.Base {
				if d.DerivesFrom(rt, b) {
					byCode[p.Code] = p
					break
				}
			}
		}
		list := make([]*SearchParam, 0, len(byCode))
		for _, p := range byCode {
			list = append(list, p)
		}
		slices.SortFunc(list, func(a, b *SearchParam) int { return strings.Compare(a.Code, b.Code) })
		d.params[rt] = list
		d.paramByCode[rt] = byCode
	}
	for _, c := range f.Compartments {
		d.compartments[c.Code] = c
	}
	for _, v := range f.ValueSets {
		v.bySystemCode = make(map[systemCode]struct{}, len(v.Concepts))
		v.byCode = make(map[string]struct{}, len(v.Concepts))
		for _, c := range v.Concepts {
			v.bySystemCode[systemCode{c.System, c.Code}] = struct{}{}
			v.byCode[c.Code] = struct{}{}
		}
		d.valueSets[v.URL] = v
	}
	return d, nil
}

// DerivesFrom reports whether type name is base or is derived from it (Patient
// derives from DomainResource and Resource).
func (d *Definitions) DerivesFrom(name, base string) bool {
	for t := d.types[name]; t != nil; t = d.types[t.Base] {
		if t.Name == base {
			return true
		}
	}
	return false
}

// FHIRVersion is the FHIR version of the definitions ("4.0.1").
func (d *Definitions) FHIRVersion() string { return d.fhirVersion }

// ResourceTypes returns the sorted names of the concrete resource types.
func (d *Definitions) ResourceTypes() []string { return slices.Clone(d.resourceTypes) }

// IsResourceType reports whether name is a concrete resource type.
func (d *Definitions) IsResourceType(name string) bool {
	t := d.types[name]
	return t != nil && t.Kind == KindResource && !t.Abstract
}

// Type returns the definition of a resource or data type, or nil.
func (d *Definitions) Type(name string) *TypeDef { return d.types[name] }

// Types returns all type definitions, sorted by name.
func (d *Definitions) Types() []*TypeDef {
	list := make([]*TypeDef, 0, len(d.types))
	for _, t := range d.types {
		list = append(list, t)
	}
	slices.SortFunc(list, func(a, b *TypeDef) int { return strings.Compare(a.Name, b.Name) })
	return list
}

// SearchParams returns the search parameters of a resource type, including those
// defined on Resource and DomainResource, sorted by code. The slice is shared: do
// not modify it.
func (d *Definitions) SearchParams(resourceType string) []*SearchParam {
	return d.params[resourceType]
}

// SearchParam returns the parameter with that code on a resource type, or nil.
func (d *Definitions) SearchParam(resourceType, code string) *SearchParam {
	return d.paramByCode[resourceType][code]
}

// SearchParamByURL returns the parameter with that canonical URL (as named by a
// composite's components), or nil.
func (d *Definitions) SearchParamByURL(url string) *SearchParam { return d.paramByURL[url] }

// Compartment returns the compartment definition with that code (Patient,
// Encounter, RelatedPerson, Practitioner, Device), or nil.
func (d *Definitions) Compartment(code string) *CompartmentDef { return d.compartments[code] }

// ValueSet returns the expansion of a value set used by a required binding (URL
// without version), or nil when the definitions hold none.
func (d *Definitions) ValueSet(url string) *ValueSet { return d.valueSets[url] }

// Extension returns the specification's definition of an extension, or nil.
func (d *Definitions) Extension(url string) *ExtensionDef { return d.extensions[url] }
