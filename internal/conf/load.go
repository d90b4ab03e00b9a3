package conf

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Prefixes of environment variables that set keys. GANTRY_ is read after
// KONG_, so it wins.
const (
	envKong   = "KONG_"
	envGantry = "GANTRY_"
)

// Load builds a Config from the defaults, then the conf file at path (skipped
// when path is ""), then environ (as from os.Environ): KONG_<KEY> and then
// GANTRY_<KEY>, so GANTRY_ wins over KONG_ and both win over the file.
// Unknown keys in the file and unknown GANTRY_* variables are errors, to
// catch typos; KONG_* variables that name no key are left alone, since other
// tools use that prefix too. The returned error has one line per problem
// and names the place, the key, the value and what is allowed. Load calls
// Validate, so a Config it returns is ready to use.
func Load(path string, environ []string) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read conf file: %w", err)
		}
	}
	return load(path, data, environ)
}

// rawValue is the text of a key and where it came from.
type rawValue struct {
	text   string
	source string // "gantry.conf:12" or "env GANTRY_ROLE"
	pos    int    // orders errors: file lines first, then variables
}

// loadError is one line of a Load error, positioned so that errors are
// reported in the order of the file and then the environment.
type loadError struct {
	pos  int
	line string
}

func (e loadError) Error() string { return e.line }

// loader gathers the raw values of every key from all sources, so that only
// the effective value of each key is parsed.
type loader struct {
	values  map[string]rawValue
	ignored map[string]bool
	errs    []loadError
}

func load(name string, data []byte, environ []string) (*Config, error) {
	l := &loader{values: make(map[string]rawValue), ignored: make(map[string]bool)}
	if name != "" {
		l.readFile(name, data)
	}
	l.readEnv(environ)
	return l.build()
}

func (l *loader) fail(pos int, format string, args ...any) {
	l.errs = append(l.errs, loadError{pos: pos, line: fmt.Sprintf(format, args...)})
}

// readFile records the keys of a conf file.
func (l *loader) readFile(name string, data []byte) {
	lines, errs := parseFile(data)
	for _, e := range errs {
		l.fail(e.line, "%s:%d: %s", name, e.line, e.msg)
	}
	for _, ln := range lines {
		source := fmt.Sprintf("%s:%d", name, ln.line)
		l.record(ln.key, ln.value, source, ln.line, true)
	}
}

// readEnv records the keys set by KONG_* and then GANTRY_* variables.
func (l *loader) readEnv(environ []string) {
	for _, prefix := range []string{envKong, envGantry} {
		for i, kv := range environ {
			name, value, ok := strings.Cut(kv, "=")
			if !ok || !strings.HasPrefix(name, prefix) {
				continue
			}
			key := strings.ToLower(strings.TrimPrefix(name, prefix))
			l.record(key, strings.TrimSpace(value), "env "+name, math.MaxInt32/2+i, prefix == envGantry)
		}
	}
}

// record stores the value of key, later sources replacing earlier ones.
// Unknown keys are errors when strict, and skipped otherwise.
func (l *loader) record(key, text, source string, pos int, strict bool) {
	switch {
	case settingByKey[key] != nil:
		l.values[key] = rawValue{text: text, source: source, pos: pos}
	case isIgnored(key):
		l.ignored[key] = true
	case strict:
		l.fail(pos, "%s: unknown property %q%s", source, key, suggest(key))
	}
}

// build parses the effective value of every key over the defaults, then
// validates the whole.
func (l *loader) build() (*Config, error) {
	c := &Config{}
	for i := range settings {
		s := &settings[i]
		raw, ok := l.values[s.key]
		if !ok {
			raw = rawValue{text: s.def, source: "default"}
			if s.key == "database" {
				// role precedes database in settings, so it is already set.
				raw.text = defaultDatabase(c.Role)
			}
		}
		if err := s.set(c, raw.text); err != nil {
			l.fail(raw.pos, "%s: %s", raw.source, valueError(s, raw.text, err))
			continue
		}
		if s.check != nil {
			if err := s.check(c); err != nil {
				l.fail(raw.pos, "%s: %s", raw.source, valueError(s, raw.text, err))
			}
		}
	}
	if len(l.errs) > 0 {
		sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].pos < l.errs[j].pos })
		errs := make([]error, len(l.errs))
		for i, e := range l.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	c.Ignored = sortedKeys(l.ignored)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// maxShownValue keeps error lines readable when a value is an inline PEM.
const maxShownValue = 80

// valueError renders "key: invalid value "v": what is allowed", hiding the
// value of secrets.
func valueError(s *setting, text string, err error) string {
	shown := "(hidden)"
	if !s.secret {
		if utf8.RuneCountInString(text) > maxShownValue {
			text = string([]rune(text)[:maxShownValue]) + "..."
		}
		shown = strconv.Quote(text)
	}
	return fmt.Sprintf("%s: invalid value %s: %v", s.key, shown, err)
}

// fileLine is one "key = value" line of a conf file.
type fileLine struct {
	line       int
	key, value string
}

// fileError is a line of a conf file that is not "key = value".
type fileError struct {
	line int
	msg  string
}

// parseFile reads kong.conf syntax: "key = value" lines, "#" starting a
// comment unless written "\#", blank lines skipped, and whitespace around
// keys and values trimmed. It keeps going after a bad line so that every
// problem is reported at once. Errors do not repeat a bad line's text, since
// it may hold a secret that lacks its "=".
func parseFile(data []byte) ([]fileLine, []fileError) {
	var (
		lines []fileLine
		errs  []fileError
	)
	text := strings.TrimPrefix(string(data), "\uFEFF")
	for i, raw := range strings.Split(text, "\n") {
		n := i + 1
		content := strings.TrimSpace(stripComment(raw))
		if content == "" {
			continue
		}
		key, value, ok := strings.Cut(content, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case !ok:
			errs = append(errs, fileError{n, `expected "key = value"`})
		case key == "":
			errs = append(errs, fileError{n, `missing key before "="`})
		default:
			lines = append(lines, fileLine{line: n, key: key, value: value})
		}
	}
	return lines, errs
}

// stripComment cuts line at the first "#" that is not written "\#", and
// turns each "\#" into "#".
func stripComment(line string) string {
	if !strings.Contains(line, "#") {
		return line
	}
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '#':
			b.WriteByte('#')
			i++
		case line[i] == '#':
			return b.String()
		default:
			b.WriteByte(line[i])
		}
	}
	return b.String()
}

// suggest offers the known key closest to an unknown one, to turn a typo
// into a one-look fix.
func suggest(key string) string {
	best, bestDist := "", 3
	for _, s := range settings {
		if d := editDistance(key, s.key, bestDist); d < bestDist {
			best, bestDist = s.key, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, or limit when
// it is at least limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}

// defaultDatabase is the database a role uses when no source names one: a
// data plane keeps its configuration in memory, other roles use the
// embedded store.
func defaultDatabase(role string) string {
	if role == RoleDataPlane {
		return DatabaseOff
	}
	return DatabaseSQLite
}
