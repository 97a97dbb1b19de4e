// Package jsonpatch applies JSON Patch documents (RFC 6902) to decoded JSON values
// (map[string]any, []any, json.Number, string, bool, nil).
package jsonpatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strconv"
	"strings"
)

// Operation is one patch operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	From  string `json:"from,omitempty"`
	Value any    `json:"value"`

	hasValue bool
}

// Error reports a patch that cannot be applied; Index is the failing operation.
type Error struct {
	Index int
	Op    string
	Msg   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("jsonpatch: operation %d (%s): %s", e.Index, e.Op, e.Msg)
}

// Parse decodes a patch document: a JSON array of operations.
func Parse(data []byte) ([]Operation, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw []map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("jsonpatch: a patch must be a JSON array of operations: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("jsonpatch: trailing data after the patch")
	}
	ops := make([]Operation, len(raw))
	for i, m := range raw {
		op := &ops[i]
		for k, v := range m {
			var err error
			switch k {
			case "op":
				err = json.Unmarshal(v, &op.Op)
			case "path":
				err = json.Unmarshal(v, &op.Path)
			case "from":
				err = json.Unmarshal(v, &op.From)
			case "value":
				d := json.NewDecoder(bytes.NewReader(v))
				d.UseNumber()
				err = d.Decode(&op.Value)
				op.hasValue = true
			}
			if err != nil {
				return nil, &Error{Index: i, Op: op.Op, Msg: fmt.Sprintf("member %q: %v", k, err)}
			}
		}
		if _, ok := m["path"]; !ok {
			return nil, &Error{Index: i, Op: op.Op, Msg: "missing path"}
		}
		switch op.Op {
		case "add", "replace", "test":
			if !op.hasValue {
				return nil, &Error{Index: i, Op: op.Op, Msg: "missing value"}
			}
		case "move", "copy":
			if _, ok := m["from"]; !ok {
				return nil, &Error{Index: i, Op: op.Op, Msg: "missing from"}
			}
		case "remove":
		default:
			return nil, &Error{Index: i, Op: op.Op, Msg: "unknown operation"}
		}
	}
	return ops, nil
}

// Apply applies ops in order to doc and returns the result. doc is modified in
// place where possible; on error the caller must discard it.
func Apply(doc any, ops []Operation) (any, error) {
	var err error
	for i, op := range ops {
		doc, err = applyOne(doc, op)
		if err != nil {
			return nil, &Error{Index: i, Op: op.Op, Msg: err.Error()}
		}
	}
	return doc, nil
}

func applyOne(doc any, op Operation) (any, error) {
	switch op.Op {
	case "add":
		return add(doc, op.Path, deepCopy(op.Value))
	case "remove":
		doc, _, err := remove(doc, op.Path)
		return doc, err
	case "replace":
		if op.Path == "" {
			return deepCopy(op.Value), nil
		}
		doc, _, err := remove(doc, op.Path)
		if err != nil {
			return nil, err
		}
		return add(doc, op.Path, deepCopy(op.Value))
	case "move":
		if op.Path != op.From && strings.HasPrefix(op.Path, op.From+"/") {
			return nil, fmt.Errorf("cannot move %q into its own child %q", op.From, op.Path)
		}
		doc, v, err := remove(doc, op.From)
		if err != nil {
			return nil, err
		}
		return add(doc, op.Path, v)
	case "copy":
		v, err := get(doc, op.From)
		if err != nil {
			return nil, err
		}
		return add(doc, op.Path, deepCopy(v))
	case "test":
		v, err := get(doc, op.Path)
		if err != nil {
			return nil, err
		}
		if !equal(v, op.Value) {
			return nil, fmt.Errorf("test failed at %q", op.Path)
		}
		return doc, nil
	}
	return nil, fmt.Errorf("unknown operation")
}

// pointer splits a JSON Pointer (RFC 6901) into unescaped tokens.
func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("path %q must start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

func index(tok string, n int, allowEnd bool) (int, error) {
	if tok == "-" && allowEnd {
		return n, nil
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("invalid array index %q", tok)
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("invalid array index %q", tok)
	}
	limit := n - 1
	if allowEnd {
		limit = n
	}
	if i > limit {
		return 0, fmt.Errorf("array index %d out of range", i)
	}
	return i, nil
}

// descend walks doc along toks to the value they name.
func descend(doc any, toks []string) (any, error) {
	cur := doc
	for _, t := range toks {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("no member %q", t)
			}
			cur = v
		case []any:
			i, err := index(t, len(c), false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("cannot descend into a scalar at %q", t)
		}
	}
	return cur, nil
}

// parent walks to the container holding the last token.
func parent(doc any, toks []string) (any, error) { return descend(doc, toks[:len(toks)-1]) }

func get(doc any, path string) (any, error) {
	toks, err := pointer(path)
	if err != nil {
		return nil, err
	}
	return descend(doc, toks)
}

// setChild replaces the container at toks[:len-1] (slices grow by reallocation, so the
// new slice has to be stored back into its own parent).
func setChild(doc any, toks []string, v any) (any, error) {
	if len(toks) == 1 {
		return v, nil
	}
	gp, err := parent(doc, toks[:len(toks)-1])
	if err != nil {
		return nil, err
	}
	key := toks[len(toks)-2]
	switch c := gp.(type) {
	case map[string]any:
		c[key] = v
	case []any:
		i, err := index(key, len(c), false)
		if err != nil {
			return nil, err
		}
		c[i] = v
	}
	return doc, nil
}

func add(doc any, path string, v any) (any, error) {
	toks, err := pointer(path)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return v, nil
	}
	p, err := parent(doc, toks)
	if err != nil {
		return nil, err
	}
	last := toks[len(toks)-1]
	switch c := p.(type) {
	case map[string]any:
		c[last] = v
		return doc, nil
	case []any:
		i, err := index(last, len(c), true)
		if err != nil {
			return nil, err
		}
		grown := make([]any, 0, len(c)+1)
		grown = append(append(append(grown, c[:i]...), v), c[i:]...)
		return setChild(doc, toks, grown)
	}
	return nil, fmt.Errorf("cannot add to a scalar at %q", path)
}

func remove(doc any, path string) (any, any, error) {
	toks, err := pointer(path)
	if err != nil {
		return nil, nil, err
	}
	if len(toks) == 0 {
		return nil, nil, fmt.Errorf("cannot remove the whole document")
	}
	p, err := parent(doc, toks)
	if err != nil {
		return nil, nil, err
	}
	last := toks[len(toks)-1]
	switch c := p.(type) {
	case map[string]any:
		v, ok := c[last]
		if !ok {
			return nil, nil, fmt.Errorf("no member %q", last)
		}
		delete(c, last)
		return doc, v, nil
	case []any:
		i, err := index(last, len(c), false)
		if err != nil {
			return nil, nil, err
		}
		v := c[i]
		shrunk := append(append(make([]any, 0, len(c)-1), c[:i]...), c[i+1:]...)
		doc, err = setChild(doc, toks, shrunk)
		return doc, v, err
	}
	return nil, nil, fmt.Errorf("path %q does not exist", path)
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// equal compares JSON values, numbers exactly by value (1 equals 1.0).
func equal(a, b any) bool {
	na, aok := a.(json.Number)
	nb, bok := b.(json.Number)
	if aok && bok {
		ra, ok1 := new(big.Rat).SetString(string(na))
		rb, ok2 := new(big.Rat).SetString(string(nb))
		return ok1 && ok2 && ra.Cmp(rb) == 0
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
