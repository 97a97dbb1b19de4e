package search

import (
	"maps"
	"slices"
	"strings"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

// The tag a shaped resource carries so that a client does not write it back over
// the whole one (http://hl7.org/fhir/R4/search.html#summary).
const (
	SubsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	SubsettedCode   = "SUBSETTED"
)

// Shape returns res as the result parameters _summary and _elements ask for
// (http://hl7.org/fhir/R4/search.html#summary, #elements). The result shares
// nothing with res, which is left as it is.
//
//   - SummaryTrue keeps, at every level, the elements marked isSummary, each data
//     type by its own definition (of a Patient.name, the HumanName summary
//     elements; never Attachment.data, nor Element.id and extension, and so no
//     primitive's "_name" sibling). Under a kept parent it also keeps modifier
//     and mandatory (min ≥ 1) elements: ElementDefinition.isSummary requires
//     both to be summary elements, R4 leaves some out
//     (DomainResource.modifierExtension, Appointment.participant), and a summary
//     without them would be misread or invalid. A kept extension (a
//     modifierExtension) stays whole: without its value it means nothing. A
//     kept element left empty goes, unless mandatory: it then stays whole.
//     Contained resources are not summary elements; other nested resources
//     (Bundle.entry.resource) are summarised by their own type and tagged.
//   - SummaryText keeps text, id, meta and the top-level mandatory elements.
//   - SummaryData drops text.
//   - SummaryFalse, SummaryCount and "" keep everything (count returns no
//     resources at all, which is the caller's business).
//   - elements keeps the top-level elements named by base name (value keeps
//     valueQuantity), with id, meta and the mandatory elements: "Servers SHOULD
//     always return mandatory elements whether they are requested or not". It
//     applies after summary: with both, what remains is what each keeps.
//
// Whenever something was left out, meta.tag gets the SUBSETTED coding, once; a
// meta or meta.tag of the wrong JSON shape is left as it is. A resource of a
// type the definitions do not know is not summarised (nothing says what is
// summary), and _elements matches its JSON names.
func Shape(defs *spec.Definitions, res fhir.Resource, summary Summary, elements []string) fhir.Resource {
	s := shaper{defs: defs}
	out, removed := map[string]any(res), false
	switch summary {
	case SummaryTrue:
		out, removed = s.summaryResource(res)
	case SummaryText:
		out, removed = s.topLevel(res, func(name string, e *spec.ElementDef) bool {
			return name == "text" || e != nil && e.Min > 0
		})
	case SummaryData:
		out, removed = s.topLevel(res, func(name string, _ *spec.ElementDef) bool { return name != "text" })
	}
	if len(elements) > 0 {
		var r bool
		out, r = s.topLevel(out, func(name string, e *spec.ElementDef) bool {
			return slices.Contains(elements, name) || e != nil && e.Min > 0
		})
		removed = removed || r
	}
	if removed {
		out = tagSubsetted(out)
	}
	// The selection above shares what it keeps with res; one copy here keeps it
	// free of copying.
	return fhir.Resource(clone(out).(map[string]any))
}

type shaper struct {
	defs *spec.Definitions
}

// resourceDef returns the definition of the concrete resource type obj names, or nil.
func (s shaper) resourceDef(obj map[string]any) *spec.TypeDef {
	rt, _ := obj["resourceType"].(string)
	if !s.defs.IsResourceType(rt) {
		return nil
	}
	return s.defs.Type(rt)
}

// topLevel keeps resourceType, id, meta and the top-level elements keep accepts,
// given their base name (value for valueQuantity) and definition (nil when
// unknown). A primitive's "_name" sibling goes with it.
func (s shaper) topLevel(res map[string]any, keep func(name string, e *spec.ElementDef) bool) (map[string]any, bool) {
	t := s.resourceDef(res)
	out := make(map[string]any, len(res))
	removed := false
	for k, v := range res {
		name := strings.TrimPrefix(k, "_")
		var e *spec.ElementDef
		if t != nil {
			e, _ = element(t, t.Name, name)
		}
		if e != nil {
			name = strings.TrimSuffix(e.Name(), "[x]")
		}
		if k == "resourceType" || name == "id" || name == "meta" || keep(name, e) {
			out[k] = v
		} else {
			removed = true
		}
	}
	return out, removed
}

// summaryResource returns the _summary=true form of a resource.
func (s shaper) summaryResource(res map[string]any) (map[string]any, bool) {
	t := s.resourceDef(res)
	if t == nil {
		return res, false
	}
	return s.summaryObject(res, t, t.Name)
}

// inSummary reports whether an element under a kept parent is kept.
func inSummary(e *spec.ElementDef) bool { return e.Summary || e.Modifier || e.Min > 0 }

// summaryObject returns the summary form of obj, whose elements are defined under
// path in t: a resource (path is its type), a data type or a backbone element.
func (s shaper) summaryObject(obj map[string]any, t *spec.TypeDef, path string) (map[string]any, bool) {
	out := make(map[string]any, len(obj))
	removed := false
	for k, v := range obj {
		if k == "resourceType" && path == t.Name && t.Kind == spec.KindResource {
			out[k] = v
			continue
		}
		name, isExt := strings.CutPrefix(k, "_")
		e, code := element(t, path, name)
		if e == nil || !inSummary(e) {
			removed = true
			continue
		}
		if s.primitive(code) {
			if _, hasValue := obj[name]; isExt && hasValue {
				continue // done with the value
			}
			removed = s.summaryPrimitive(out, obj, name, e) || removed
			continue
		}
		if isExt {
			removed = true // "_name" belongs to primitives only
			continue
		}
		nv, r := s.summaryValue(v, t, e, code)
		removed = removed || r
		if nv != nil || v == nil { // a null is not FHIR: nothing to go by
			out[k] = nv
		}
	}
	return out, removed
}

// summaryPrimitive copies primitive element name of obj, with its "_name" sibling,
// into out. The sibling holds the primitive's id and extensions, which are not
// summary elements (Element.id, Element.extension), so it goes unless the
// element is mandatory and has no value without it. Going, it takes with it the
// nulls that kept an array aligned with it.
func (s shaper) summaryPrimitive(out, obj map[string]any, name string, e *spec.ElementDef) bool {
	val, hasValue := obj[name]
	ext, hasExt := obj["_"+name]
	if !hasExt {
		out[name] = val
		return false
	}
	arr, isArr := val.([]any)
	var values []any
	if isArr {
		values = slices.DeleteFunc(slices.Clone(arr), func(v any) bool { return v == nil })
	}
	if e.Min > 0 && (!hasValue || val == nil || isArr && len(values) == 0) {
		if hasValue {
			out[name] = val
		}
		out["_"+name] = ext
		return false
	}
	switch {
	case isArr && len(values) > 0:
		out[name] = values
	case hasValue && !isArr:
		out[name] = val
	}
	return true
}

// summaryValue returns the summary form of the value of complex element e, or nil
// when nothing of it is kept.
func (s shaper) summaryValue(v any, t *spec.TypeDef, e *spec.ElementDef, code string) (any, bool) {
	switch v := v.(type) {
	case map[string]any:
		m, removed := s.summaryItem(v, t, e, code)
		if len(m) == 0 {
			if e.Min > 0 {
				return v, false
			}
			return nil, true
		}
		return m, removed
	case []any:
		items := make([]any, 0, len(v))
		removed := false
		for _, item := range v {
			m, ok := item.(map[string]any)
			if !ok {
				items = append(items, item) // not FHIR: nothing to go by
				continue
			}
			m, r := s.summaryItem(m, t, e, code)
			removed = removed || r
			if len(m) > 0 {
				items = append(items, m)
			} else {
				removed = true
			}
		}
		if len(items) == 0 {
			if e.Min > 0 {
				return v, false
			}
			return nil, true
		}
		return items, removed
	}
	return v, false // not FHIR: nothing to go by
}

// summaryItem returns the summary form of one object value of element e, of type
// code.
func (s shaper) summaryItem(m map[string]any, t *spec.TypeDef, e *spec.ElementDef, code string) (map[string]any, bool) {
	switch {
	case code == "Extension":
		return m, false
	case code == "Resource":
		out, removed := s.summaryResource(m)
		if removed {
			out = tagSubsetted(out)
		}
		return out, removed
	case e.ContentReference != "":
		return s.summaryObject(m, t, e.ContentReference)
	case code == "BackboneElement" || code == "Element":
		return s.summaryObject(m, t, e.Path)
	}
	dt := s.defs.Type(code)
	if dt == nil {
		return m, false
	}
	return s.summaryObject(m, dt, dt.Name)
}

func (s shaper) primitive(code string) bool {
	t := s.defs.Type(code)
	return t != nil && t.Kind == spec.KindPrimitiveType
}

// element returns the definition of the JSON property name (without a leading
// "_") of an object whose elements are defined under path in t, and the type of
// its value: a choice element value[x] is written with its type, valueQuantity.
// A content reference (Questionnaire.item.item) has no type of its own and gives
// "".
func element(t *spec.TypeDef, path, name string) (*spec.ElementDef, string) {
	if name == "" || strings.ContainsAny(name, ".[") {
		return nil, "" // would name a nested path, not a child
	}
	if e := t.Element(path + "." + name); e != nil {
		code := ""
		if len(e.Types) > 0 {
			code = e.Types[0].Code
		}
		return e, code
	}
	for i := 1; i < len(name); i++ {
		if name[i] < 'A' || name[i] > 'Z' {
			continue
		}
		e := t.Element(path + "." + name[:i] + "[x]")
		if e == nil {
			continue
		}
		for _, tr := range e.Types {
			if tr.Code != "" && strings.ToUpper(tr.Code[:1])+tr.Code[1:] == name[i:] {
				return e, tr.Code
			}
		}
	}
	return nil, ""
}

// tagSubsetted returns res with the SUBSETTED coding in meta.tag, copying what it
// changes.
func tagSubsetted(res map[string]any) map[string]any {
	var meta map[string]any
	var tags []any
	if m, ok := res["meta"]; ok {
		if meta, ok = m.(map[string]any); !ok {
			return res
		}
		if tg, ok := meta["tag"]; ok {
			if tags, ok = tg.([]any); !ok {
				return res
			}
		}
	}
	for _, tag := range tags {
		if c, ok := tag.(map[string]any); ok && c["system"] == SubsettedSystem && c["code"] == SubsettedCode {
			return res
		}
	}
	meta = maps.Clone(meta)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["tag"] = append(slices.Clip(tags), map[string]any{"system": SubsettedSystem, "code": SubsettedCode})
	out := maps.Clone(res)
	out["meta"] = meta
	return out
}

// clone deep-copies a JSON value.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = clone(x)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = clone(x)
		}
		return a
	}
	return v
}
