// Package server is HIP's HTTP edge: the FHIR R4 REST API under /fhir, health
// endpoints and metrics. Domain errors become OperationOutcomes here, once.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hip-platform/hip/internal/auth"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/terminology"
)

const basePath = "/fhir"

// Config are the server's settings.
type Config struct {
	Store        store.Store
	Definitions  *spec.Definitions
	Validator    *validate.Validator
	Validation   *validate.Policy // modes and profiles per source facility; nil: strict, base definitions
	Indexer      *search.Indexer  // the store's: custom SearchParameters are added to it
	Logger       *slog.Logger
	Version      string
	BaseURL      string         // public base URL of the FHIR API; derived from requests when empty
	MaxBodyBytes int64          // request body limit; default 16 MiB
	Location     *time.Location // zone of search dates without one; default China Standard Time
	Security     *Security      // nil: no authentication (tests, --insecure-no-auth)
	MPI          MPI            // nil: no master patient index
}

// Server serves the FHIR API.
type Server struct {
	cfg          Config
	store        store.Store
	defs         *spec.Definitions
	parser       *search.Parser
	indexer      *search.Indexer
	validator    *validate.Validator
	venv         *validate.Env
	log          *slog.Logger
	capabilities atomic.Pointer[[]byte] // rebuilt when a SearchParameter is added
	limiter      *rateLimiter           // per principal; nil: unlimited
	terms        *terminology.Service
	registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
}

// New builds a server; nothing listens until its Handler is served.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Definitions == nil || cfg.Validator == nil || cfg.Indexer == nil {
		return nil, errors.New("server: Store, Definitions, Validator and Indexer are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.Location == nil {
		cfg.Location = time.FixedZone("CST", 8*3600)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	s := &Server{cfg: cfg, store: cfg.Store, defs: cfg.Definitions, validator: cfg.Validator, log: cfg.Logger,
		indexer: cfg.Indexer,
		parser:  search.NewParser(cfg.Definitions, search.NormalizeString).WithLocation(cfg.Location).WithParams(cfg.Indexer.Param)}
	if sec := cfg.Security; sec != nil && sec.Rate > 0 {
		s.limiter = newRateLimiter(sec.Rate, sec.Burst)
	}
	terms, err := terminology.New(s.findTerminology)
	if err != nil {
		return nil, err
	}
	s.terms = terms
	s.venv = &validate.Env{Terminology: terms, Find: func(ctx context.Context, url string) (fhir.Resource, error) {
		return s.findTerminology(ctx, "StructureDefinition", url)
	}}
	if err := s.refreshCapabilities(); err != nil {
		return nil, err
	}
	s.registry = prometheus.NewRegistry()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hip_http_requests_total", Help: "FHIR API requests by interaction, resource type and status code.",
	}, []string{"interaction", "type", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hip_http_request_duration_seconds", Help: "FHIR API request latency by interaction and resource type.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"interaction", "type"})
	s.registry.MustRegister(s.requests, s.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s, nil
}

// refreshCapabilities rebuilds the CapabilityStatement served at /metadata.
func (s *Server) refreshCapabilities() error {
	caps, err := s.capabilityStatement().MarshalJSON()
	if err != nil {
		return fmt.Errorf("server: CapabilityStatement: %w", err)
	}
	s.capabilities.Store(&caps)
	return nil
}

// Handler returns the HTTP handler of every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(basePath, s.serveFHIR)
	mux.HandleFunc(basePath+"/", s.serveFHIR)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	return mux
}

// ready answers 200 when the database answers.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ready\n"))
}

// requestInfo is what the metrics, the log and the audit record of one request.
type requestInfo struct {
	interaction, typ string
	route            route
	req              *request
	session          *auth.Session // set once the request is authenticated
}

func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 {
		return id
	}
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) base(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + basePath
}

func (s *Server) serveFHIR(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := requestID(r)
	w.Header().Set("X-Request-Id", rid)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	info := &requestInfo{interaction: iUnknownAction}
	defer func() {
		elapsed := time.Since(start)
		s.requests.WithLabelValues(info.interaction, info.typ, strconv.Itoa(rec.status)).Inc()
		s.latency.WithLabelValues(info.interaction, info.typ).Observe(elapsed.Seconds())
		s.log.Info("request", "id", rid, "method", r.Method, "path", r.URL.Path, "interaction", info.interaction,
			"type", info.typ, "status", rec.status, "ms", float64(elapsed.Microseconds())/1000)
	}()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic serving request", "id", rid, "panic", p)
			s.writeError(rec, r, rid, fhir.Errorf(fhir.Internal, "internal server error"))
		}
	}()
	resp, err := s.serve(r.Context(), rec, r, info)
	if info.session != nil {
		// The response waits for its audit record: an answered request is on
		// the trail, and one that cannot be recorded is not answered.
		status := http.StatusOK
		if err != nil {
			status = statusFor(fhir.AsError(err))
		} else {
			status = resp.status
		}
		if aerr := s.record(r.Context(), r, rid, info.route, info.req, info.session, status); aerr != nil {
			resp, err = nil, aerr
		}
	}
	if err != nil {
		s.writeError(rec, r, rid, err)
		return
	}
	s.writeResponse(rec, r, resp)
}

func (s *Server) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, info *requestInfo) (*response, error) {
	req, err := s.fromHTTP(w, r)
	if err != nil {
		return nil, err
	}
	req.base = s.base(r)
	if isSMARTConfig(req) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		info.interaction = "smart-configuration"
		return s.smartConfiguration()
	}
	rt, err := s.resolve(req)
	if err != nil {
		return nil, err
	}
	info.interaction, info.typ, info.route, info.req = rt.interaction, rt.typ, rt, req
	var sess *auth.Session
	if sec := s.cfg.Security; sec != nil && !isPublic(rt, req) {
		principal, err := s.authenticate(r, w.Header().Get("X-Request-Id"))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hip", error="invalid_token"`)
			return nil, err
		}
		if s.limiter != nil {
			if ok, retry := s.limiter.allow(principal.Subject+"\x00"+principal.Client, time.Now()); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
				return nil, fhir.Errorf(fhir.Throttled, "too many requests from %s: retry in %s", principal.Subject, retry.Round(time.Millisecond))
			}
		}
		if sess, err = sec.Policy.Session(ctx, s.store, principal, sessionRequest(r, req, rt)); err != nil {
			return nil, err
		}
		info.session = sess
		ctx = withFacility(ctx, principal.Facility)
		if rt.typ == "AuditEvent" {
			return s.auditEvents(ctx, req, rt, sess)
		}
		if rt.interaction == iReindex && principal.Role != auth.RoleAdmin {
			return nil, fhir.Errorf(fhir.Forbidden, "only an administrator may rebuild the search index")
		}
		switch rt.interaction {
		case iReview, iMerge, iUnmerge:
			if principal.Role != auth.RoleAdmin {
				return nil, fhir.Errorf(fhir.Forbidden, "only an administrator may review, merge or unmerge persons of the master patient index")
			}
		case iMatch:
			if principal.Role != auth.RoleAdmin && principal.Role != auth.RoleClinician && principal.Role != auth.RoleFacility {
				return nil, fhir.Errorf(fhir.Forbidden, "$match is for clinicians, facility systems and administrators")
			}
		}
	}
	switch rt.interaction {
	case iLookup, iValidateCode, iExpand, iTranslate:
		return s.terminologyOperation(ctx, guardReader(sess, s.store), req, rt)
	case iValidate:
		return s.validate(ctx, guardReader(sess, s.store), req, rt)
	case iMatch, iReview, iMerge, iUnmerge:
		agent := "anonymous"
		if sess != nil {
			agent = sess.Principal().Subject
		}
		return s.mpiOperation(ctx, guardReader(sess, s.store), req, rt, agent)
	}
	if rt.interaction == iTransaction {
		return s.bundle(ctx, req, info)
	}
	if !isWrite(rt.interaction) {
		return s.do(ctx, guardReader(sess, s.store), nil, req, rt)
	}
	var resp *response
	err = s.store.Tx(ctx, func(tx store.Tx) error {
		gtx := guardTx(sess, tx)
		var err error
		resp, err = s.do(ctx, gtx, gtx, req, rt)
		return err
	})
	if err == nil && sess != nil {
		sess.Committed()
	}
	if err == nil {
		s.committed(ctx, resp.stored)
		resp.findings = req.findings
	}
	return resp, err
}

type facilityKey struct{}

// withFacility notes the Organization the writing principal belongs to:
// validation rules are chosen per source facility.
func withFacility(ctx context.Context, facility string) context.Context {
	return context.WithValue(ctx, facilityKey{}, facility)
}

func facilityOf(ctx context.Context) string {
	f, _ := ctx.Value(facilityKey{}).(string)
	return f
}

func (s *Server) writeResponse(w http.ResponseWriter, r *http.Request, resp *response) {
	h := w.Header()
	if resp.stored != nil {
		h.Set("ETag", resp.etag())
		h.Set("Last-Modified", httpDate(resp.stored.Updated))
	}
	if resp.location != "" {
		h.Set("Location", s.base(r)+"/"+resp.location)
	}
	if resp.status == http.StatusNoContent || resp.status == http.StatusNotModified {
		w.WriteHeader(resp.status)
		return
	}
	isWriteMethod := r.Method == http.MethodPost && resp.stored != nil || r.Method == http.MethodPut || r.Method == http.MethodPatch
	if isWriteMethod {
		switch parsePrefer(r.Header.Values("Prefer")).ret {
		case "minimal":
			w.WriteHeader(resp.status)
			return
		case "OperationOutcome":
			writeJSON(w, r, resp.status, fhir.OperationOutcome(append([]fhir.Issue{{Severity: "information", Code: "informational",
				Diagnostics: "stored " + resp.location}}, resp.findings...)...))
			return
		}
	}
	if resp.contentType != "" {
		h.Set("Content-Type", resp.contentType)
		w.WriteHeader(resp.status)
		w.Write(resp.raw)
		return
	}
	if resp.resource != nil {
		writeJSON(w, r, resp.status, resp.resource)
		return
	}
	writeJSON(w, r, resp.status, resp.raw)
}

// guardReader returns rd under the session's checks (rd itself without one).
func guardReader(sess *auth.Session, rd store.Reader) store.Reader {
	if sess == nil {
		return rd
	}
	return sess.Reader(rd)
}

// guardTx returns tx under the session's checks (tx itself without one).
func guardTx(sess *auth.Session, tx store.Tx) store.Tx {
	if sess == nil {
		return tx
	}
	return sess.Tx(tx)
}

// statuses maps domain error codes to HTTP statuses; NotSupported depends on why.
var statuses = map[fhir.Code]int{
	fhir.Invalid:            http.StatusBadRequest,
	fhir.NotFound:           http.StatusNotFound,
	fhir.Gone:               http.StatusGone,
	fhir.Conflict:           http.StatusConflict,
	fhir.PreconditionFailed: http.StatusPreconditionFailed,
	fhir.Forbidden:          http.StatusForbidden,
	fhir.Unauthorized:       http.StatusUnauthorized,
	fhir.Throttled:          http.StatusTooManyRequests,
	fhir.Unavailable:        http.StatusServiceUnavailable,
	fhir.TooLarge:           http.StatusRequestEntityTooLarge,
	fhir.Unprocessable:      http.StatusUnprocessableEntity,
	fhir.NotSupported:       http.StatusBadRequest,
}

// statusFor maps a domain error to its HTTP status.
func statusFor(e *fhir.Error) int {
	if e.Code == fhir.NotSupported {
		switch {
		case errors.Is(e.Err, errNotAcceptable):
			return http.StatusNotAcceptable
		case errors.Is(e.Err, errUnsupportedMedia):
			return http.StatusUnsupportedMediaType
		case errors.Is(e.Err, errMethodNotAllowed):
			return http.StatusMethodNotAllowed
		}
	}
	if status, ok := statuses[e.Code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, rid string, err error) {
	e := fhir.AsError(err)
	status := statusFor(e)
	if status >= 500 {
		s.log.Error("request failed", "id", rid, "err", err)
		if status != http.StatusServiceUnavailable { // whose message is written for the client
			e = &fhir.Error{Code: fhir.Internal, Message: "internal server error (request " + rid + ")"}
		}
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE")
	}
	writeJSON(w, r, status, e.Outcome())
}
