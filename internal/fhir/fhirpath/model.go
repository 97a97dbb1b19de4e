package fhirpath

import (
	"strings"
	"sync"

	"github.com/hip-platform/hip/internal/fhir/spec"
)

// Model gives FHIR types to the nodes an expression navigates, from the R4
// definitions. Named types are indexed when it is made and the children of each
// type are resolved once, on first use, into a read-only map, so navigation costs
// a map lookup without allocating. It is safe for concurrent use.
type Model struct {
	defs  *spec.Definitions
	named map[string]*nodeType // read-only after NewModel

	mu        sync.Mutex
	backbones map[typeKey]*nodeType // guarded by mu
}

// NewModel wraps the definitions; defs must not be nil.
func NewModel(defs *spec.Definitions) *Model {
	m := &Model{defs: defs, named: map[string]*nodeType{}, backbones: map[typeKey]*nodeType{}}
	for _, def := range defs.Types() {
		m.named[def.Name] = &nodeType{
			name: def.Name, def: def, path: def.Name,
			primitive:  def.Kind == spec.KindPrimitiveType,
			isQuantity: defs.DerivesFrom(def.Name, "Quantity"),
		}
	}
	return m
}

// Definitions returns the definitions the model was built from.
func (m *Model) Definitions() *spec.Definitions { return m.defs }

// nodeType is the type of a node: a named type, or a backbone element which is
// identified by the path of its definition inside the type that declares it.
type nodeType struct {
	name       string        // what is/ofType test: "HumanName", "code", "BackboneElement"
	def        *spec.TypeDef // the type whose snapshot holds path
	path       string        // element path in def: "Patient", "Patient.contact"
	primitive  bool
	isQuantity bool // Quantity or a type derived from it (Age, Duration, …)

	once sync.Once
	kids map[string]*childSet // element name → where to find it; set by once
}

type typeKey struct{ def, path string }

// childSet says where a child element is found in the parent's JSON.
type childSet struct {
	known   bool // the element is defined (false: unknown name)
	entries []childEntry
	// choiceName is set for a choice element named with its type
	// (valueQuantity): FHIRPath names it without (value).
	choiceName string
}

type childEntry struct {
	key string    // JSON property: "given", "valueQuantity"
	typ *nodeType // nil: a contained resource, typed from its resourceType
}

// typeOf returns the node type of a named type, or nil when the model has none.
func (m *Model) typeOf(name string) *nodeType { return m.named[name] }

// backbone returns the node type of an inline element definition.
func (m *Model) backbone(def *spec.TypeDef, path, name string) *nodeType {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := typeKey{def.Name, path}
	if t := m.backbones[k]; t != nil {
		return t
	}
	t := &nodeType{name: name, def: def, path: path}
	m.backbones[k] = t
	return t
}

// child resolves the element name of parent.
func (m *Model) child(parent *nodeType, name string) *childSet {
	parent.once.Do(func() {
		parent.kids = map[string]*childSet{}
		prefix := parent.path + "."
		for _, e := range parent.def.Elements {
			rest, ok := strings.CutPrefix(e.Path, prefix)
			if ok && !strings.Contains(rest, ".") {
				rest = strings.TrimSuffix(rest, "[x]")
				parent.kids[rest] = m.resolveChild(parent, rest)
			}
		}
	})
	if cs := parent.kids[name]; cs != nil {
		return cs
	}
	return m.resolveChild(parent, name) // not an element: only errors follow
}

func (m *Model) resolveChild(parent *nodeType, name string) *childSet {
	path := parent.path + "." + name
	if e := parent.def.Element(path); e != nil {
		return &childSet{known: true, entries: []childEntry{{key: name, typ: m.elementType(parent.def, e, name)}}}
	}
	if e := parent.def.Element(path + "[x]"); e != nil {
		cs := &childSet{known: true}
		for _, t := range e.Types {
			cs.entries = append(cs.entries, childEntry{key: name + upperFirst(t.Code), typ: m.typeOf(t.Code)})
		}
		return cs
	}
	// A choice element named with its type (valueQuantity) is an error that
	// deserves a helpful message.
	for _, e := range parent.def.Elements {
		base, ok := strings.CutSuffix(e.Path, "[x]")
		if !ok || !strings.HasPrefix(path, base) || strings.LastIndexByte(base, '.') != len(parent.path) {
			continue
		}
		suffix := path[len(base):]
		for _, t := range e.Types {
			if upperFirst(t.Code) == suffix {
				return &childSet{choiceName: base[len(parent.path)+1:]}
			}
		}
	}
	return &childSet{}
}

// elementType is the node type of element e of def.
func (m *Model) elementType(def *spec.TypeDef, e *spec.ElementDef, name string) *nodeType {
	if e.ContentReference != "" {
		if ref := def.Element(e.ContentReference); ref != nil && len(ref.Types) == 1 {
			return m.backbone(def, e.ContentReference, ref.Types[0].Code)
		}
		return m.backbone(def, e.ContentReference, "BackboneElement")
	}
	if len(e.Types) == 0 {
		return nil
	}
	code := e.Types[0].Code
	switch {
	case code == "BackboneElement" || code == "Element":
		return m.backbone(def, e.Path, code)
	case code == "Resource":
		return nil
	case strings.HasPrefix(code, "http://hl7.org/fhirpath/System."):
		if name == "id" {
			return m.typeOf("id")
		}
		return m.typeOf("string")
	}
	return m.typeOf(code)
}

// isType reports whether t is the named FHIR type or derives from it.
func (m *Model) isType(t *nodeType, name string) bool {
	if t.name == name {
		return true
	}
	return m.defs.DerivesFrom(t.name, name)
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
