package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// request is one FHIR interaction, from an HTTP request or a Bundle entry.
type request struct {
	method      string
	path        []string // after the base, split on /
	query       url.Values
	base        string // absolute base URL, for fullUrl and links
	body        []byte
	resource    fhir.Resource // a Bundle entry's resource, already decoded
	validated   bool          // resource passed checkResource for its route's type
	contentType string        // media type without parameters
	ifMatch     string
	ifNoneExist string
	ifNoneMatch string
	ifModSince  string
	prefer      prefer
	entry       int          // Bundle entry index, -1 outside bundles
	findings    []fhir.Issue // validation findings kept with the resource written
}

type prefer struct {
	ret     string // minimal | representation | OperationOutcome
	lenient bool   // handling=lenient: unknown search parameters are ignored, not refused
}

func parsePrefer(h []string) prefer {
	var p prefer
	for _, v := range h {
		for _, part := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch strings.TrimSpace(k) {
			case "return":
				p.ret = val
			case "handling":
				p.lenient = val == "lenient"
			}
		}
	}
	return p
}

// response is the outcome of one interaction.
type response struct {
	status   int
	resource fhir.Resource // or
	raw      []byte        // a stored body, written as is
	stored   *store.Resource
	location string // relative: Type/id/_history/n
	created  bool
	findings []fhir.Issue // validation findings kept with the resource written
	// contentType, when set, is the media type of raw, written as is
	// (JSON that is not FHIR, such as the SMART configuration).
	contentType string
}

func (r *response) etag() string {
	if r.stored == nil {
		return ""
	}
	return fmt.Sprintf(`W/"%d"`, r.stored.Version)
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// mediaType is a Content-Type or Accept entry without its parameters, lower-case.
func mediaType(s string) string {
	mt, _, err := mime.ParseMediaType(s)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(s))
	}
	return mt
}

func isJSON(mt string) bool {
	switch mt {
	case "application/fhir+json", "application/json", "application/json+fhir", "text/json":
		return true
	}
	return false
}

func isXML(mt string) bool {
	return mt == "application/fhir+xml" || mt == "application/xml" || mt == "text/xml" || mt == "application/xml+fhir" || mt == "xml"
}

// negotiate checks that the client accepts JSON, from _format or Accept.
func negotiate(r *http.Request) error {
	if f := r.URL.Query().Get("_format"); f != "" {
		// An unescaped "+" in the query arrives as a space: application/fhir json.
		switch mt := mediaType(strings.ReplaceAll(f, " ", "+")); {
		case mt == "json" || isJSON(mt):
			return nil
		default:
			return fhir.Errorf(fhir.NotSupported, "_format %q is not supported: this server speaks application/fhir+json", f)
		}
	}
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return nil
	}
	sawXML := false
	for _, a := range accept {
		for _, part := range strings.Split(a, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				mt = mediaType(part)
			}
			if q, err := strconv.ParseFloat(params["q"], 64); err == nil && q <= 0 {
				continue // q=0: explicitly not acceptable
			}
			if isJSON(mt) || mt == "*/*" || mt == "application/*" || mt == "" {
				return nil
			}
			if isXML(mt) {
				sawXML = true
			}
		}
	}
	if sawXML {
		return fhir.Errorf(fhir.NotSupported, "XML is not supported: request application/fhir+json")
	}
	return fhir.Errorf(fhir.NotSupported, "none of the accepted media types is supported: request application/fhir+json")
}

// errNotAcceptable and errUnsupportedMedia let the HTTP edge tell 406 from 415.
var (
	errNotAcceptable    = errors.New("not acceptable")
	errUnsupportedMedia = errors.New("unsupported media type")
)

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fhir.Errorf(fhir.TooLarge, "request body exceeds the limit of %d bytes", limit)
		}
		return nil, fhir.Errorf(fhir.Invalid, "reading the request body: %v", err)
	}
	return body, nil
}

// fromHTTP builds the interaction from an HTTP request under base path /fhir.
func (s *Server) fromHTTP(w http.ResponseWriter, r *http.Request) (*request, error) {
	if err := negotiate(r); err != nil {
		return nil, &fhir.Error{Code: fhir.NotSupported, Message: err.Error(), Err: errNotAcceptable}
	}
	req := &request{
		method:      r.Method,
		path:        splitPath(strings.TrimPrefix(r.URL.Path, basePath)),
		query:       r.URL.Query(),
		ifMatch:     r.Header.Get("If-Match"),
		ifNoneExist: r.Header.Get("If-None-Exist"),
		ifNoneMatch: r.Header.Get("If-None-Match"),
		ifModSince:  r.Header.Get("If-Modified-Since"),
		prefer:      parsePrefer(r.Header.Values("Prefer")),
		entry:       -1,
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		body, err := readBody(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			return nil, err
		}
		req.body = body
		req.contentType = mediaType(r.Header.Get("Content-Type"))
		if err := checkContentType(req); err != nil {
			return nil, err
		}
		if req.contentType == "application/x-www-form-urlencoded" {
			// POST _search: the form is merged with the URL's parameters.
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, fhir.Errorf(fhir.Invalid, "malformed form body: %v", err)
			}
			for k, vs := range form {
				req.query[k] = append(req.query[k], vs...)
			}
			req.body = nil
		}
	}
	return req, nil
}

func checkContentType(req *request) error {
	ct := req.contentType
	switch {
	case ct == "" || isJSON(ct):
		if req.method == http.MethodPatch {
			return &fhir.Error{Code: fhir.NotSupported, Err: errUnsupportedMedia,
				Message: "PATCH needs Content-Type application/json-patch+json"}
		}
		return nil
	case ct == "application/json-patch+json" && req.method == http.MethodPatch:
		return nil
	case ct == "application/x-www-form-urlencoded" && req.method == http.MethodPost && len(req.path) > 0 && req.path[len(req.path)-1] == "_search":
		return nil
	case isXML(ct):
		return &fhir.Error{Code: fhir.NotSupported, Err: errUnsupportedMedia,
			Message: "XML is not supported: send application/fhir+json"}
	}
	return &fhir.Error{Code: fhir.NotSupported, Err: errUnsupportedMedia,
		Message: fmt.Sprintf("Content-Type %q is not supported: send application/fhir+json", ct)}
}

// precondition is the write guard the request's If-Match asks for.
func (req *request) precondition() (store.Precondition, error) {
	if req.ifMatch == "" {
		return store.Precondition{}, nil
	}
	v, err := parseETag(req.ifMatch)
	return store.Precondition{IfMatch: v}, err
}

// parseETag reads W/"3", "3" or 3 as a version.
func parseETag(s string) (int64, error) {
	v := strings.TrimPrefix(strings.TrimSpace(s), "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fhir.Errorf(fhir.Invalid, "invalid version in If-Match %q: expected W/\"n\"", s)
	}
	return n, nil
}

// writeJSON renders v as the response body.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var body []byte
	switch x := v.(type) {
	case []byte:
		body = x
	case fhir.Resource:
		b, err := x.MarshalJSON()
		if err != nil {
			http.Error(w, "encoding the response failed", http.StatusInternalServerError)
			return
		}
		body = b
	}
	if r.URL.Query().Get("_pretty") == "true" {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
