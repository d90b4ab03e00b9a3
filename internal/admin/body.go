package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// errBodyTooLarge is returned when a request body exceeds the limit.
var errBodyTooLarge = errors.New("request body too large")

// body is a decoded request body: the values, and whether they came from a
// form, whose strings the schema must coerce ("80" to 80).
type body struct {
	values map[string]any
	form   bool
}

// readBody decodes a JSON, form-urlencoded or multipart body into nested
// values, the three forms Kong's Admin API accepts. An empty body is an
// empty object.
func readBody(r *http.Request, limit int64) (body, error) {
	data, err := readRaw(r, limit)
	if err != nil {
		return body{}, err
	}
	return decodeBody(data, r.Header.Get("Content-Type"), limit)
}

// decodeBody decodes data sent with the given Content-Type.
func decodeBody(data []byte, contentType string, limit int64) (body, error) {
	ctype, params, _ := mime.ParseMediaType(contentType)
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return body{values: map[string]any{}}, nil
	case ctype == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(data))
		if err != nil {
			return body{}, badRequest("Cannot parse form body: " + err.Error())
		}
		v, err := nestForm(q)
		return body{values: v, form: true}, err
	case ctype == "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(data), params["boundary"]).ReadForm(limit)
		if err != nil {
			return body{}, badRequest("Cannot parse multipart body: " + err.Error())
		}
		defer form.RemoveAll()
		flat := url.Values{}
		for k, vs := range form.Value {
			flat[k] = append(flat[k], vs...)
		}
		for k, files := range form.File {
			for _, fh := range files {
				f, err := fh.Open()
				if err != nil {
					return body{}, badRequest("Cannot read multipart file " + k)
				}
				content, err := io.ReadAll(f)
				f.Close()
				if err != nil {
					return body{}, badRequest("Cannot read multipart file " + k)
				}
				flat[k] = append(flat[k], string(content))
			}
		}
		v, err := nestForm(flat)
		return body{values: v, form: true}, err
	default:
		// Kong reads bodies without a content type as JSON too.
		v, err := decodeJSONObject(data)
		if err != nil {
			return body{}, badRequest("Cannot parse JSON body: " + err.Error())
		}
		return body{values: v}, nil
	}
}

// decodeJSONObject decodes exactly one JSON object, keeping numbers exact.
func decodeJSONObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("expected a JSON object")
	}
	return m, nil
}

// nestForm turns flat form keys into nested values the way Kong's Admin
// API reads them: "config.minute=5" sets a member, "paths[]=/a" and
// repeated keys build arrays, "paths[2]=/c" sets an index.
func nestForm(q url.Values) (map[string]any, error) {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	root := map[string]any{}
	for _, k := range keys {
		steps, err := parseFormKey(k)
		if err != nil {
			return nil, err
		}
		for _, v := range q[k] {
			if err := setForm(root, steps, v, len(q[k]) > 1); err != nil {
				return nil, badRequest(fmt.Sprintf("Cannot parse form key %q: %v", k, err))
			}
		}
	}
	return root, nil
}

// formStep is one step of a form key: a member name, an index, or an
// append ("[]").
type formStep struct {
	name   string
	index  int // -1 for a name, -2 for an append
	isName bool
}

func parseFormKey(k string) ([]formStep, error) {
	var steps []formStep
	for _, part := range strings.Split(k, ".") {
		name := part
		rest := ""
		if i := strings.IndexByte(part, '['); i >= 0 {
			name, rest = part[:i], part[i:]
		}
		if name == "" {
			return nil, badRequest(fmt.Sprintf("Cannot parse form key %q", k))
		}
		steps = append(steps, formStep{name: name, index: -1, isName: true})
		for rest != "" {
			end := strings.IndexByte(rest, ']')
			if !strings.HasPrefix(rest, "[") || end < 0 {
				return nil, badRequest(fmt.Sprintf("Cannot parse form key %q", k))
			}
			inner := rest[1:end]
			rest = rest[end+1:]
			if inner == "" {
				steps = append(steps, formStep{index: -2})
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 1 || n > 10000 {
				return nil, badRequest(fmt.Sprintf("Cannot parse form key %q: bad index %q", k, inner))
			}
			steps = append(steps, formStep{index: n - 1})
		}
	}
	return steps, nil
}

// setForm stores v at steps below root. repeated says the key appeared
// more than once, which makes its value an array.
func setForm(root map[string]any, steps []formStep, v string, repeated bool) error {
	var cur any = root
	var set func(any)
	for i, st := range steps {
		last := i == len(steps)-1
		switch {
		case st.isName:
			m, ok := cur.(map[string]any)
			if !ok {
				return errors.New("mixes an object with another value")
			}
			if last {
				if repeated {
					list, _ := m[st.name].([]any)
					m[st.name] = append(list, v)
				} else {
					m[st.name] = v
				}
				return nil
			}
			next, ok := m[st.name]
			if !ok {
				if steps[i+1].isName {
					next = map[string]any{}
				} else {
					next = []any{}
				}
				m[st.name] = next
			}
			name := st.name
			set = func(x any) { m[name] = x }
			cur = next
		default:
			list, ok := cur.([]any)
			if !ok {
				return errors.New("mixes an array with another value")
			}
			idx := st.index
			if idx == -2 {
				idx = len(list)
			}
			for len(list) <= idx {
				list = append(list, nil)
			}
			set(list)
			if last {
				list[idx] = v
				return nil
			}
			if list[idx] == nil {
				if steps[i+1].isName {
					list[idx] = map[string]any{}
				} else {
					list[idx] = []any{}
				}
			}
			l, at := list, idx
			set = func(x any) { l[at] = x }
			cur = list[idx]
		}
	}
	return nil
}

// readRaw reads a whole body of at most limit bytes.
func readRaw(r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, errBodyTooLarge
	}
	return data, nil
}
