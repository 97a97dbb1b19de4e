package validate

import (
	"fmt"
	"strings"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/fhirpath"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

// invariant is one constraint of the specification (a FHIRPath expression
// that must hold), compiled, with the instances it applies to.
type invariant struct {
	key, severity, human string
	element              string               // the element it is defined on, for messages
	at                   *fhirpath.Expression // from the resource to the instances; nil: the resource
	expr                 *fhirpath.Expression
	// first is the JSON name of the first step of at (a choice element's
	// prefix when choice is set): most invariants are about elements a
	// resource does not have, and a map lookup tells without evaluating.
	first  string
	choice bool
}

// Types whose invariants are not checked at every occurrence: ele-1 (every
// element has content or children) and ext-1 (value or nested extensions)
// the structural checks already enforce.
var skipInvariantTypes = map[string]bool{"Element": true, "BackboneElement": true, "Extension": true, "Resource": true}

// maxDatatypeDepth bounds how deep datatype invariants are followed
// (HumanName.period is depth 2).
const maxDatatypeDepth = 3

// buildInvariants compiles, per concrete resource type, the invariants of
// the type, its ancestors, its elements and the datatypes it uses.
// Expressions the engine cannot parse are left out and returned as errors
// for the caller to report once.
func buildInvariants(defs *spec.Definitions) (map[string][]invariant, []error) {
	var problems []error
	compile := func(c spec.Constraint) *fhirpath.Expression {
		x, err := fhirpath.Compile(c.Expression)
		if err != nil {
			problems = append(problems, fmt.Errorf("invariant %s: %w", c.Key, err))
		}
		return x
	}
	out := map[string][]invariant{}
	for _, rt := range defs.ResourceTypes() {
		var list []invariant
		add := func(c spec.Constraint, element, nav string) {
			x := compile(c)
			if x == nil {
				return
			}
			inv := invariant{key: c.Key, severity: c.Severity, human: c.Human, element: element, expr: x}
			if nav != "" {
				if inv.at = compile(spec.Constraint{Key: c.Key, Expression: nav}); inv.at == nil {
					return
				}
				inv.first, _, _ = strings.Cut(nav, ".")
				// The resource path's first step names a choice element when
				// it ends in [x]: value[x] is valueQuantity, valueString, …
				_, rest, _ := strings.Cut(element, ".")
				step, _, _ := strings.Cut(rest, ".")
				inv.choice = strings.HasSuffix(step, "[x]")
			}
			list = append(list, inv)
		}
		// The type and its ancestors' invariants on the resource itself.
		for t := defs.Type(rt); t != nil; t = defs.Type(t.Base) {
			if len(t.Elements) > 0 {
				for _, c := range t.Elements[0].Constraints {
					add(c, rt, "")
				}
			}
			if t.Base == "" {
				break
			}
		}
		t := defs.Type(rt)
		for _, e := range t.Elements[1:] {
			nav := navigation(e.Path)
			for _, c := range e.Constraints {
				add(c, e.Path, nav)
			}
			addDatatypes(defs, e, e.Path, nav, 1, add)
		}
		out[rt] = list
	}
	return out, problems
}

// addDatatypes adds the invariants of the complex datatypes an element may
// hold, at the element's instances, and of their elements, recursively;
// where is the element's path from the resource, for messages.
func addDatatypes(defs *spec.Definitions, e *spec.ElementDef, where, nav string, depth int, add func(spec.Constraint, string, string)) {
	if depth > maxDatatypeDepth || e.ContentReference != "" {
		return
	}
	for _, ty := range e.Types {
		dt := defs.Type(ty.Code)
		if dt == nil || dt.Kind != spec.KindComplexType || skipInvariantTypes[dt.Name] {
			continue
		}
		at := nav
		if e.IsChoice() {
			at = nav + ".ofType(" + dt.Name + ")"
		}
		for _, c := range dt.Elements[0].Constraints {
			add(c, where, at)
		}
		for _, sub := range dt.Elements[1:] {
			subNav := at + "." + navigation(sub.Path)
			subWhere := where + "." + sub.Name()
			for _, c := range sub.Constraints {
				add(c, subWhere, subNav)
			}
			addDatatypes(defs, sub, subWhere, subNav, depth+1, add)
		}
	}
}

// navigation turns an element path into a FHIRPath navigation from its
// type's root: Patient.contact.name → contact.name, value[x] → value.
func navigation(path string) string {
	_, rest, _ := strings.Cut(path, ".")
	return strings.ReplaceAll(rest, "[x]", "")
}

// invariants checks the invariants of a resource (top-level or nested).
func (w *walker) invariants(obj map[string]any, rt string) {
	list := w.v.invariants[rt]
	if len(list) == 0 {
		return
	}
	res := fhir.Resource(obj)
	env := &fhirpath.Env{Model: w.v.model, Resource: res, RootResource: w.root}
	for _, inv := range list {
		if inv.at != nil && !inv.present(obj) {
			continue
		}
		var items fhirpath.Collection
		if inv.at != nil {
			var err error
			if items, err = inv.at.Evaluate(env, res); err != nil {
				w.addIssue("warning", "processing", inv.element, "%s: 无法求值 could not be evaluated: %v", inv.key, err)
				continue
			}
			if len(items) == 0 {
				continue
			}
		}
		var inputs []any
		if inv.at == nil {
			inputs = []any{res}
		} else {
			for _, it := range items {
				inputs = append(inputs, it)
			}
		}
		for i, in := range inputs {
			got, err := inv.expr.Evaluate(env, in)
			if err != nil {
				w.addIssue("warning", "processing", inv.element, "%s: 无法求值 could not be evaluated: %v", inv.key, err)
				continue
			}
			if len(got) == 1 && got[0].Value == false {
				where := inv.element
				if len(inputs) > 1 {
					where = fmt.Sprintf("%s (instance %d)", inv.element, i+1)
				}
				sev := "error"
				if inv.severity == "warning" {
					sev = "warning"
				}
				w.addIssue(sev, "invariant", where, "%s: 违反规范约束 %s", inv.key, inv.human)
			}
		}
	}
}

// present reports whether obj has the element the invariant's path starts
// at (its value or, for a primitive, its extensions).
func (inv *invariant) present(obj map[string]any) bool {
	if !inv.choice {
		_, ok := obj[inv.first]
		if !ok {
			_, ok = obj["_"+inv.first]
		}
		return ok
	}
	for k := range obj {
		k = strings.TrimPrefix(k, "_")
		if len(k) > len(inv.first) && strings.HasPrefix(k, inv.first) && k[len(inv.first)] >= 'A' && k[len(inv.first)] <= 'Z' {
			return true
		}
	}
	return false
}
