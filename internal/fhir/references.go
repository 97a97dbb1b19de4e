package fhir

// RewriteReferences calls fn on every Reference.reference string within v (a
// resource or any part of one, contained resources included) and stores what fn
// returns in its place.
func RewriteReferences(v any, fn func(ref string) (string, error)) error {
	switch x := v.(type) {
	case Resource:
		return RewriteReferences(map[string]any(x), fn)
	case map[string]any:
		for k, child := range x {
			if ref, ok := child.(string); ok && k == "reference" {
				out, err := fn(ref)
				if err != nil {
					return err
				}
				x[k] = out
				continue
			}
			if err := RewriteReferences(child, fn); err != nil {
				return err
			}
		}
	case []any:
		for _, child := range x {
			if err := RewriteReferences(child, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
