// Package api serves the projection over HTTP: GET /records/{type} lists the entities of a type a
// page at a time, GET /records/{type}/{key} returns the newest record of one entity. It is a plain
// http.Handler, so it runs behind the API Gateway adapter in Lambda and under httptest alike.
// Every answer is JSON; bad parameters are 400 with a message that says which, and a store
// failure is a 500 whose detail goes to the log, not to the caller.
package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/projection"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// Limits of the listing.
const (
	DefaultLimit = 25
	MaxLimit     = 100
)

// maxTokenBytes bounds the next token before it is decoded: a genuine one holds a type of at most
// 64 bytes and a key of at most 1024, which base64 and JSON escaping keep well under this.
const maxTokenBytes = 8192

// Store is what the API reads: the projection.
type Store interface {
	Get(ctx context.Context, typ, key string) (record.Record, error)
	List(ctx context.Context, typ string, limit int, after *projection.Cursor) (projection.Page, error)
}

var _ Store = (*projection.Reader)(nil)

// New returns the API's handler over store. Failures of the store are logged to logger.
func New(store Store, logger *slog.Logger) http.Handler {
	s := &server{store: store, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /records/{type}", s.list)
	mux.HandleFunc("GET /records/{type}/{key}", s.get)
	// The same paths without a method catch every other method, so that the answer is a JSON 405
	// rather than the mux's plain-text one (a pattern with a method takes precedence).
	mux.HandleFunc("/records/{type}", methodNotAllowed)
	mux.HandleFunc("/records/{type}/{key}", methodNotAllowed)
	mux.HandleFunc("/", notFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux answers a path that is not in canonical form with a redirect; no route of this
		// API is reached that way, so say so in JSON instead.
		if p := r.URL.EscapedPath(); p != canonical(p) {
			notFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

type server struct {
	store  Store
	logger *slog.Logger
}

// Page is the body of a listing.
type Page struct {
	Items []record.Record `json:"items"`
	Next  string          `json:"next,omitempty"`
}

// Error is the body of every error answer.
type Error struct {
	Message string `json:"message"`
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if msg := checkType(typ); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	// A query that does not parse would otherwise lose its bad pair silently (URL.Query drops it),
	// and a mistyped next token would restart the listing from the beginning.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid query string: not URL-encoded")
		return
	}
	limit, msg := parseLimit(q["limit"])
	if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	after, msg := parseNext(q["next"], typ)
	if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	page, err := s.store.List(r.Context(), typ, limit, after)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body := Page{Items: page.Records}
	if body.Items == nil {
		body.Items = []record.Record{}
	}
	if page.Next != nil {
		body.Next = EncodeNext(typ, page.Next.Key)
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	typ, key := r.PathValue("type"), r.PathValue("key")
	if msg := checkType(typ); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if msg := checkKey(key); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	rec, err := s.store.Get(r.Context(), typ, key)
	if errors.Is(err, projection.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no record of type "+strconv.Quote(typ)+" with key "+strconv.Quote(key))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// fail answers a store failure: the caller learns only that it failed; the log has the detail.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	logging.For(r.Context(), s.logger).ErrorContext(r.Context(), "read projection",
		"method", r.Method, "path", r.URL.Path, "error", err)
	writeError(w, http.StatusInternalServerError, "internal error: the records could not be read")
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "no such route: the API serves GET /records/{type} and GET /records/{type}/{key}")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, "method "+strconv.Quote(r.Method)+" not allowed: use GET")
}

// checkType returns why typ is not a record type the API serves, or "".
func checkType(typ string) string {
	if len(typ) < 1 || len(typ) > 64 {
		return "invalid type: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
	}
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "invalid type: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
		}
	}
	return ""
}

// checkKey returns why key cannot be an entity's key, or "".
func checkKey(key string) string {
	switch {
	case key == "":
		return "invalid key: empty"
	case len(key) > projection.MaxKeyBytes:
		return "invalid key: longer than 1024 bytes"
	case !utf8.ValidString(key):
		return "invalid key: not valid UTF-8"
	}
	return ""
}

func parseLimit(values []string) (int, string) {
	const msg = "invalid limit: an integer from 1 to 100"
	switch len(values) {
	case 0:
		return DefaultLimit, ""
	case 1:
	default:
		return 0, "invalid limit: given more than once"
	}
	v := values[0]
	// Atoi accepts a sign; a limit is written as digits only. Three digits are enough for 100, and
	// checking the length first keeps a huge limit from being parsed at all.
	if len(v) == 0 || len(v) > 3 || strings.Trim(v, "0123456789") != "" {
		return 0, msg
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, msg
	}
	return n, ""
}

// next is the content of a next token: where the listing stopped, and for which type, so that a
// token of one listing is not taken for another.
type next struct {
	Type string `json:"t"`
	Key  string `json:"k"`
}

// EncodeNext returns the opaque token that continues the listing of typ after key.
func EncodeNext(typ, key string) string {
	b, _ := json.Marshal(next{Type: typ, Key: key}) // two strings always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseNext(values []string, typ string) (*projection.Cursor, string) {
	const msg = "invalid next token"
	switch len(values) {
	case 0:
		return nil, ""
	case 1:
	default:
		return nil, "invalid next token: given more than once"
	}
	v := values[0]
	if v == "" || len(v) > maxTokenBytes {
		return nil, msg
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, msg
	}
	var n next
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil || dec.More() {
		return nil, msg
	}
	if n.Type != typ || checkKey(n.Key) != "" {
		return nil, msg
	}
	return &projection.Cursor{Key: n.Key}, ""
}

// canonical is p as the mux would clean it: no empty, "." or ".." segments, a trailing slash kept.
func canonical(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Error{Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		// Only a record whose data is not valid JSON could get here, and the projection never
		// returns one; answer in JSON all the same.
		status, b = http.StatusInternalServerError, []byte(`{"message":"internal error: the answer could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
