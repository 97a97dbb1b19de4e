// Command gen derives the compact FHIR R4 definitions embedded in package data from
// the official hl7.fhir.r4.core package: type structures without narrative, search
// parameters, compartments, and expansions of the value sets of required bindings.
//
//	go run ./gen -src ../../../../shared/fhir/r4-core -out ../../../data/fhir-r4.json.gz
//
// The output depends only on the input files, so re-running gives identical bytes.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hip-platform/hip/internal/fhir/spec"
)

func main() {
	src := flag.String("src", "", "directory of the unpacked hl7.fhir.r4.core package")
	out := flag.String("out", "", "output file (gzip'd JSON)")
	flag.Parse()
	if *src == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	var buf bytes.Buffer
	if err := generate(*src, &buf); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

// generate reads the package in dir and writes the embedded form to w.
func generate(dir string, w io.Writer) error {
	pkg, err := readPackage(dir)
	if err != nil {
		return err
	}
	f := &spec.File{FHIRVersion: pkg.version}
	required := map[string]bool{}
	for _, sd := range pkg.structures {
		t := convertType(sd)
		f.Types = append(f.Types, t)
		for _, e := range t.Elements {
			if e.Binding != nil && e.Binding.Strength == spec.BindingRequired && e.Binding.ValueSet != "" {
				required[e.Binding.ValueSet] = true
			}
		}
	}
	for _, sd := range pkg.extensions {
		f.Extensions = append(f.Extensions, convertExtension(sd))
	}
	for _, sp := range pkg.searchParams {
		f.SearchParams = append(f.SearchParams, convertSearchParam(sp))
	}
	for _, cd := range pkg.compartments {
		c := &spec.CompartmentDef{Code: cd.Code, URL: cd.URL}
		for _, r := range cd.Resource {
			c.Resources = append(c.Resources, spec.CompartmentResource{Type: r.Code, Params: r.Param})
		}
		f.Compartments = append(f.Compartments, c)
	}
	urls := make([]string, 0, len(required))
	for u := range required {
		urls = append(urls, u)
	}
	slices.Sort(urls)
	ex := &expander{pkg: pkg}
	for _, u := range urls {
		concepts, ok := ex.expand(u, 0)
		vs := &spec.ValueSet{URL: u, Enumerable: ok}
		if ok {
			vs.Concepts = concepts
		}
		f.ValueSets = append(f.ValueSets, vs)
	}
	return spec.Encode(w, f)
}

// Source shapes: only the fields kept are decoded.

type structureDefinition struct {
	URL     string `json:"url"`
	Context []struct {
		Type       string `json:"type"`
		Expression string `json:"expression"`
	} `json:"context"`
	Type           string `json:"type"`
	Kind           string `json:"kind"`
	Abstract       bool   `json:"abstract"`
	Derivation     string `json:"derivation"`
	BaseDefinition string `json:"baseDefinition"`
	Snapshot       struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	ID               string `json:"id"`
	Path             string `json:"path"`
	Min              int    `json:"min"`
	Max              string `json:"max"`
	ContentReference string `json:"contentReference"`
	IsSummary        bool   `json:"isSummary"`
	IsModifier       bool   `json:"isModifier"`
	Type             []struct {
		Code          string      `json:"code"`
		Extension     []extension `json:"extension"`
		TargetProfile []string    `json:"targetProfile"`
	} `json:"type"`
	Binding *struct {
		Strength string `json:"strength"`
		ValueSet string `json:"valueSet"`
	} `json:"binding"`
	Constraint []struct {
		Key        string `json:"key"`
		Severity   string `json:"severity"`
		Human      string `json:"human"`
		Expression string `json:"expression"`
		Source     string `json:"source"`
	} `json:"constraint"`
}

type extension struct {
	URL         string `json:"url"`
	ValueURL    string `json:"valueUrl"`
	ValueString string `json:"valueString"`
}

type searchParameter struct {
	URL         string           `json:"url"`
	Name        string           `json:"name"`
	Code        string           `json:"code"`
	Base        []string         `json:"base"`
	Type        string           `json:"type"`
	Expression  string           `json:"expression"`
	XPathUsage  string           `json:"xpathUsage"`
	Target      []string         `json:"target"`
	MultipleOr  *bool            `json:"multipleOr"`
	MultipleAnd *bool            `json:"multipleAnd"`
	Modifier    []string         `json:"modifier"`
	Comparator  []string         `json:"comparator"`
	Component   []spec.Component `json:"component"`
}

type compartmentDefinition struct {
	URL      string `json:"url"`
	Code     string `json:"code"`
	Resource []struct {
		Code  string   `json:"code"`
		Param []string `json:"param"`
	} `json:"resource"`
}

type valueSet struct {
	URL     string `json:"url"`
	Compose *struct {
		Include []composeRule `json:"include"`
		Exclude []composeRule `json:"exclude"`
	} `json:"compose"`
	Expansion *struct {
		Contains []expansionContains `json:"contains"`
	} `json:"expansion"`
}

type composeRule struct {
	System  string `json:"system"`
	Concept []struct {
		Code    string `json:"code"`
		Display string `json:"display"`
	} `json:"concept"`
	Filter []struct {
		Property string `json:"property"`
		Op       string `json:"op"`
		Value    string `json:"value"`
	} `json:"filter"`
	ValueSet []string `json:"valueSet"`
}

type expansionContains struct {
	System   string              `json:"system"`
	Code     string              `json:"code"`
	Display  string              `json:"display"`
	Contains []expansionContains `json:"contains"`
}

type codeSystem struct {
	URL     string    `json:"url"`
	Content string    `json:"content"`
	Concept []concept `json:"concept"`
}

type concept struct {
	Code    string    `json:"code"`
	Display string    `json:"display"`
	Concept []concept `json:"concept"`
}

type corePackage struct {
	version      string
	structures   []*structureDefinition // kept types only, by name
	extensions   []*structureDefinition // extension definitions, by URL
	searchParams []*searchParameter     // by URL
	compartments []*compartmentDefinition
	valueSets    map[string]*valueSet
	codeSystems  map[string]*codeSystem
}

func readPackage(dir string) (*corePackage, error) {
	manifest, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, fmt.Errorf("gen: read package manifest: %w", err)
	}
	var m struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("gen: package.json: %w", err)
	}
	if m.Name != "hl7.fhir.r4.core" {
		return nil, fmt.Errorf("gen: %s holds package %q, want hl7.fhir.r4.core", dir, m.Name)
	}
	pkg := &corePackage{version: m.Version, valueSets: map[string]*valueSet{}, codeSystems: map[string]*codeSystem{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("gen: %w", err)
	}
	for _, ent := range entries {
		name := ent.Name()
		if ent.IsDir() || !strings.HasSuffix(name, ".json") || name == "package.json" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("gen: %w", err)
		}
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("gen: %s: %w", name, err)
		}
		if err := pkg.add(head.ResourceType, raw); err != nil {
			return nil, fmt.Errorf("gen: %s: %w", name, err)
		}
	}
	sortByName(pkg)
	return pkg, nil
}

// add decodes one resource of the package and files it; other resource types are
// ignored.
func (p *corePackage) add(resourceType string, raw []byte) error {
	switch resourceType {
	case "StructureDefinition":
		var sd structureDefinition
		if err := json.Unmarshal(raw, &sd); err != nil {
			return err
		}
		// Constraint profiles (vitalsigns, ...) and logical models are not types
		// an instance can have; Resource and Element have no derivation at all.
		if sd.Derivation == "constraint" && sd.Type == "Extension" {
			p.extensions = append(p.extensions, &sd)
			return nil
		}
		if sd.Derivation == "constraint" || sd.Kind == "logical" {
			return nil
		}
		p.structures = append(p.structures, &sd)
	case "SearchParameter":
		var sp searchParameter
		if err := json.Unmarshal(raw, &sp); err != nil {
			return err
		}
		// The package carries three examples of the resource (example,
		// example-extension, example-reference) that would replace Resource
		// _id and Condition subject with demonstrations.
		if strings.HasPrefix(sp.URL, "http://hl7.org/fhir/SearchParameter/example") {
			return nil
		}
		p.searchParams = append(p.searchParams, &sp)
	case "CompartmentDefinition":
		var cd compartmentDefinition
		if err := json.Unmarshal(raw, &cd); err != nil {
			return err
		}
		p.compartments = append(p.compartments, &cd)
	case "ValueSet":
		var vs valueSet
		if err := json.Unmarshal(raw, &vs); err != nil {
			return err
		}
		p.valueSets[vs.URL] = &vs
	case "CodeSystem":
		var cs codeSystem
		if err := json.Unmarshal(raw, &cs); err != nil {
			return err
		}
		p.codeSystems[cs.URL] = &cs
	}
	return nil
}

// sortByName fixes the output order independently of file names.
func sortByName(p *corePackage) {
	slices.SortFunc(p.structures, func(a, b *structureDefinition) int { return strings.Compare(a.Type, b.Type) })
	slices.SortFunc(p.extensions, func(a, b *structureDefinition) int { return strings.Compare(a.URL, b.URL) })
	slices.SortFunc(p.searchParams, func(a, b *searchParameter) int { return strings.Compare(a.URL, b.URL) })
	slices.SortFunc(p.compartments, func(a, b *compartmentDefinition) int { return strings.Compare(a.Code, b.Code) })
}

const (
	extFHIRType = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
	extRegex    = "http://hl7.org/fhir/StructureDefinition/regex"
	systemTypes = "http://hl7.org/fhirpath/System."
	sdURLPrefix = "http://hl7.org/fhir/StructureDefinition/"
)

func convertType(sd *structureDefinition) *spec.TypeDef {
	t := &spec.TypeDef{
		Name:     sd.Type,
		Kind:     sd.Kind,
		Abstract: sd.Abstract,
		Base:     strings.TrimPrefix(sd.BaseDefinition, sdURLPrefix),
	}
	for _, e := range sd.Snapshot.Element {
		if sd.Kind == spec.KindPrimitiveType && e.Path == sd.Type+".value" {
			// The primitive's value is the JSON value itself; only its pattern matters.
			for _, ty := range e.Type {
				for _, x := range ty.Extension {
					if x.URL == extRegex {
						t.Regex = x.ValueString
					}
				}
			}
			continue
		}
		el := &spec.ElementDef{
			Path:             e.Path,
			Min:              e.Min,
			Max:              e.Max,
			ContentReference: strings.TrimPrefix(e.ContentReference, "#"),
			Summary:          e.IsSummary,
			Modifier:         e.IsModifier,
		}
		for _, ty := range e.Type {
			ref := spec.TypeRef{Code: ty.Code}
			if strings.HasPrefix(ty.Code, systemTypes) {
				// Element.id, Extension.url and the like are typed with FHIRPath
				// system types; the FHIR type is in an extension.
				for _, x := range ty.Extension {
					if x.URL == extFHIRType {
						ref.Code = x.ValueURL
					}
				}
			}
			if sd.Kind == spec.KindResource && e.Path == sd.Type+".id" {
				// The 4.0.1 snapshots type Resource.id as string, but the
				// specification (and every server) has it as id: [A-Za-z0-9\-\.]{1,64}.
				ref.Code = "id"
			}
			for _, tp := range ty.TargetProfile {
				ref.Targets = append(ref.Targets, strings.TrimPrefix(tp, sdURLPrefix))
			}
			el.Types = append(el.Types, ref)
		}
		if b := e.Binding; b != nil {
			vs, _, _ := strings.Cut(b.ValueSet, "|")
			el.Binding = &spec.Binding{Strength: b.Strength, ValueSet: vs}
		}
		for _, c := range e.Constraint {
			// Each invariant is kept where it is defined (its source is this
			// type): inherited ones (ele-1 on every element, dom-* on every
			// resource) are checked once, from the type that defines them.
			src := strings.TrimPrefix(c.Source, sdURLPrefix)
			if c.Expression == "" || src != "" && src != sd.Type {
				continue
			}
			el.Constraints = append(el.Constraints, spec.Constraint{Key: c.Key, Severity: c.Severity, Human: c.Human, Expression: c.Expression})
		}
		t.Elements = append(t.Elements, el)
	}
	return t
}

// convertExtension keeps what a validator needs of an extension definition:
// its URL, where it may be used and the types its value may have (none for
// an extension made of nested extensions).
func convertExtension(sd *structureDefinition) *spec.ExtensionDef {
	x := &spec.ExtensionDef{URL: sd.URL}
	for _, c := range sd.Context {
		x.Contexts = append(x.Contexts, c.Expression)
	}
	for _, e := range sd.Snapshot.Element {
		if e.ID == "Extension.value[x]" && e.Max != "0" {
			for _, t := range e.Type {
				x.Types = append(x.Types, t.Code)
			}
		}
	}
	return x
}

func convertSearchParam(sp *searchParameter) *spec.SearchParam {
	return &spec.SearchParam{
		URL:         sp.URL,
		Name:        sp.Name,
		Code:        sp.Code,
		Base:        sp.Base,
		Type:        sp.Type,
		Expression:  sp.Expression,
		XPathUsage:  sp.XPathUsage,
		Target:      sp.Target,
		MultipleOr:  sp.MultipleOr,
		MultipleAnd: sp.MultipleAnd,
		Modifier:    sp.Modifier,
		Comparator:  sp.Comparator,
		Component:   sp.Component,
	}
}

// expander expands value sets from their compose rules over the package's code
// systems.
type expander struct {
	pkg *corePackage
}

// maxDepth bounds value sets that include each other.
const maxDepth = 10

// expand returns the concepts of the value set at url; ok is false when they cannot
// be enumerated (an external or incomplete code system, an unknown value set, an
// unsupported filter).
func (x *expander) expand(url string, depth int) (concepts []spec.Concept, ok bool) {
	vs := x.pkg.valueSets[url]
	if vs == nil || depth > maxDepth {
		return nil, false
	}
	if vs.Compose == nil {
		if vs.Expansion == nil {
			return nil, false
		}
		var out []spec.Concept
		flattenExpansion(vs.Expansion.Contains, &out)
		return dedupe(out), true
	}
	var in []spec.Concept
	for _, r := range vs.Compose.Include {
		cs, ok := x.rule(r, depth)
		if !ok {
			return nil, false
		}
		in = append(in, cs...)
	}
	var ex []spec.Concept
	for _, r := range vs.Compose.Exclude {
		cs, ok := x.rule(r, depth)
		if !ok {
			return nil, false
		}
		ex = append(ex, cs...)
	}
	if len(ex) > 0 {
		drop := map[[2]string]bool{}
		for _, c := range ex {
			drop[[2]string{c.System, c.Code}] = true
		}
		in = slices.DeleteFunc(in, func(c spec.Concept) bool { return drop[[2]string{c.System, c.Code}] })
	}
	return dedupe(in), true
}

// rule evaluates one include or exclude rule.
func (x *expander) rule(r composeRule, depth int) ([]spec.Concept, bool) {
	var out []spec.Concept
	switch {
	case r.System == "" && len(r.ValueSet) == 0:
		return nil, false
	case r.System == "":
		// Only value sets: their union.
	case len(r.Concept) > 0:
		// Listed codes are enumerable even from a code system the package lacks
		// (units-of-time lists its UCUM codes).
		cs := x.pkg.codeSystems[r.System]
		for _, c := range r.Concept {
			display := c.Display
			if display == "" && cs != nil {
				if found := findConcept(cs.Concept, c.Code); found != nil {
					display = found.Display
				}
			}
			out = append(out, spec.Concept{System: r.System, Code: c.Code, Display: display})
		}
	default:
		cs := x.pkg.codeSystems[r.System]
		if cs == nil || cs.Content != "complete" {
			return nil, false
		}
		if len(r.Filter) == 0 {
			flattenConcepts(r.System, cs.Concept, &out)
			break
		}
		// Filters narrow each other; each yields a subtree of the hierarchy.
		for i, f := range r.Filter {
			if f.Property != "concept" {
				return nil, false
			}
			root := findConcept(cs.Concept, f.Value)
			if root == nil {
				return nil, false
			}
			var got []spec.Concept
			switch f.Op {
			case "is-a":
				flattenConcepts(r.System, []concept{*root}, &got)
			case "descendent-of":
				flattenConcepts(r.System, root.Concept, &got)
			default:
				return nil, false
			}
			if i == 0 {
				out = got
			} else {
				out = intersect(out, got)
			}
		}
	}
	if len(r.ValueSet) > 0 {
		// A rule with value sets (and maybe a system) is their intersection.
		for i, u := range r.ValueSet {
			got, ok := x.expand(strings.SplitN(u, "|", 2)[0], depth+1)
			if !ok {
				return nil, false
			}
			if i == 0 && r.System == "" {
				out = got
			} else {
				out = intersect(out, got)
			}
		}
	}
	return out, true
}

func intersect(a, b []spec.Concept) []spec.Concept {
	keep := map[[2]string]bool{}
	for _, c := range b {
		keep[[2]string{c.System, c.Code}] = true
	}
	return slices.DeleteFunc(a, func(c spec.Concept) bool { return !keep[[2]string{c.System, c.Code}] })
}

func dedupe(cs []spec.Concept) []spec.Concept {
	seen := map[[2]string]bool{}
	return slices.DeleteFunc(cs, func(c spec.Concept) bool {
		k := [2]string{c.System, c.Code}
		if seen[k] {
			return true
		}
		seen[k] = true
		return false
	})
}

// flattenConcepts appends concepts and, depth first, all their nested concepts.
func flattenConcepts(system string, cs []concept, out *[]spec.Concept) {
	for _, c := range cs {
		*out = append(*out, spec.Concept{System: system, Code: c.Code, Display: c.Display})
		flattenConcepts(system, c.Concept, out)
	}
}

func flattenExpansion(cs []expansionContains, out *[]spec.Concept) {
	for _, c := range cs {
		if c.Code != "" {
			*out = append(*out, spec.Concept{System: c.System, Code: c.Code, Display: c.Display})
		}
		flattenExpansion(c.Contains, out)
	}
}

func findConcept(cs []concept, code string) *concept {
	for i := range cs {
		if cs[i].Code == code {
			return &cs[i]
		}
		if found := findConcept(cs[i].Concept, code); found != nil {
			return found
		}
	}
	return nil
}
