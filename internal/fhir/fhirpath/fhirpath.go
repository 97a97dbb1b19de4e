// Package fhirpath implements FHIRPath (http://hl7.org/fhirpath/N1/, the
// normative release) over FHIR R4 JSON as decoded by fhir.Parse: a lexer and
// Pratt parser that compile an expression once into a tree, and an evaluator
// that walks resources typed by the R4 definitions (choice elements, is/as/ofType
// with FHIR and System types), with three-valued logic, exact decimals,
// partial-precision dates and UCUM quantities.
//
// Search indexing evaluates every search parameter on every write, so the
// evaluator works on the decoded maps directly (no reflection) and memoises model
// look-ups in the Model.
package fhirpath

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// Expression is a compiled FHIRPath expression. It is immutable and safe for
// concurrent use.
type Expression struct {
	src  string
	root node
}

// Compile parses expr. Syntax errors are *SyntaxError with the offset.
func Compile(expr string) (*Expression, error) {
	n, err := parse(expr)
	if err != nil {
		return nil, err
	}
	return &Expression{src: expr, root: n}, nil
}

// MustCompile is Compile for expressions known to be valid; it panics otherwise.
func MustCompile(expr string) *Expression {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the source text.
func (x *Expression) String() string { return x.src }

// Cache holds compiled expressions by source text, for callers that evaluate the
// same strings repeatedly. The zero value is ready; it is safe for concurrent use.
type Cache struct{ m sync.Map }

// Compile returns the cached compilation of expr, compiling it on first use.
// Failures are not cached.
func (c *Cache) Compile(expr string) (*Expression, error) {
	if v, ok := c.m.Load(expr); ok {
		return v.(*Expression), nil
	}
	x, err := Compile(expr)
	if err != nil {
		return nil, err
	}
	v, _ := c.m.LoadOrStore(expr, x)
	return v.(*Expression), nil
}

// Resolver finds the resource a reference points to, for resolve(). ref is the
// reference as written ("Patient/1", an absolute URL, "urn:uuid:…"). It returns
// nil, nil when the reference cannot be resolved.
type Resolver interface {
	Resolve(ref string) (fhir.Resource, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ref string) (fhir.Resource, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ref string) (fhir.Resource, error) { return f(ref) }

// Env is what an evaluation may use besides its input. The zero value evaluates
// without a type model (elements are then untyped JSON, choice elements must be
// named with their type) and with the wall clock.
type Env struct {
	// Model types the nodes; without it is/as/ofType only know System types and
	// resource types.
	Model *Model
	// Resource is %resource (defaults to the input); RootResource is
	// %rootResource (defaults to Resource). Contained references (#id) and Bundle
	// entries are resolved within them.
	Resource, RootResource fhir.Resource
	// Vars are external constants, %name. Values may be an Item, a Collection,
	// a FHIR JSON value, or bool, string, int, int64, float64, Decimal, Quantity.
	// %ucum, %sct, %loinc, %vs-name and %ext-name are predefined.
	Vars map[string]any
	// Resolver looks up references that are not in the resources at hand.
	Resolver Resolver
	// Now fixes now(), today() and timeOfDay(); zero means the wall clock.
	Now time.Time
	// Strict makes names that the model does not define errors, as the
	// "strict" mode of the FHIRPath test suite expects.
	Strict bool
	// Trace receives trace() output; nil discards it.
	Trace func(name string, c Collection)
}

// ErrEvaluation is wrapped by every evaluation error.
var ErrEvaluation = errors.New("fhirpath: evaluation error")

func evalErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrEvaluation, fmt.Sprintf(format, args...))
}

// Evaluate runs the expression on input: a fhir.Resource, a JSON object or value,
// an Item or a Collection. env may be nil.
func (x *Expression) Evaluate(env *Env, input any) (Collection, error) {
	if env == nil {
		env = &Env{}
	}
	e := &evaluator{env: env, model: env.Model}
	in := e.wrap(input)
	e.this = in
	e.context = in
	if env.Resource != nil {
		e.resource = Collection{e.wrap(map[string]any(env.Resource))[0]}
	} else {
		e.resource = in
	}
	if env.RootResource != nil {
		e.rootResource = Collection{e.wrap(map[string]any(env.RootResource))[0]}
	} else {
		e.rootResource = e.resource
	}
	return x.root.eval(e, in)
}

// wrap turns a Go input into a collection, typing resources by resourceType.
func (e *evaluator) wrap(v any) Collection {
	switch v := v.(type) {
	case nil:
		return nil
	case Collection:
		return v
	case Item:
		return Collection{v}
	case fhir.Resource:
		return Collection{e.resourceItem(map[string]any(v))}
	case map[string]any:
		return Collection{e.resourceItem(v)}
	case []any:
		out := make(Collection, 0, len(v))
		for _, x := range v {
			out = append(out, e.wrap(x)...)
		}
		return out
	case int:
		return Collection{{Value: int64(v)}}
	case float64:
		d, _ := parseDecimal(fmt.Sprint(v))
		return Collection{{Value: d}}
	}
	return Collection{{Value: v}}
}

// resourceItem types a JSON object by its resourceType when the model knows it.
func (e *evaluator) resourceItem(m map[string]any) Item {
	it := Item{Value: m}
	if rt, ok := m["resourceType"].(string); ok && e.model != nil {
		it.typ = e.model.typeOf(rt)
	}
	return it
}
