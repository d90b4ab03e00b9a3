package balancer

import (
	"fmt"
	"math"
	"time"

	"github.com/gantry-gw/gantry/internal/entity"
)

// UpstreamFromEntities decodes a validated upstream entity and its target
// entities into an Upstream, and validates the result. Targets that belong
// to another upstream are refused rather than silently balanced over.
func UpstreamFromEntities(up entity.Entity, targets []entity.Entity) (Upstream, error) {
	u := Upstream{
		ID:                       up.ID(),
		Name:                     up.String("name"),
		Algorithm:                up.String("algorithm"),
		HashOn:                   up.String("hash_on"),
		HashFallback:             up.String("hash_fallback"),
		HashOnHeader:             up.String("hash_on_header"),
		HashFallbackHeader:       up.String("hash_fallback_header"),
		HashOnCookie:             up.String("hash_on_cookie"),
		HashOnCookiePath:         up.String("hash_on_cookie_path"),
		HashOnQueryArg:           up.String("hash_on_query_arg"),
		HashFallbackQueryArg:     up.String("hash_fallback_query_arg"),
		HashOnURICapture:         up.String("hash_on_uri_capture"),
		HashFallbackURICapture:   up.String("hash_fallback_uri_capture"),
		StickySessionsCookie:     up.String("sticky_sessions_cookie"),
		StickySessionsCookiePath: up.String("sticky_sessions_cookie_path"),
		Slots:                    int(number(up["slots"])),
		HostHeader:               up.String("host_header"),
	}
	if hc, ok := up["healthchecks"].(map[string]any); ok {
		u.Healthchecks = decodeHealthchecks(hc)
	} else {
		u.Healthchecks = DefaultHealthchecks()
	}
	for _, t := range targets {
		if ref := t.Ref("upstream"); ref != "" && u.ID != "" && ref != u.ID {
			return Upstream{}, fmt.Errorf("target %s belongs to upstream %s, not %s", t.ID(), ref, u.ID)
		}
		w := int64(100) // Kong's default, for entities built by hand
		if t["weight"] != nil {
			w = number(t["weight"])
		}
		u.Targets = append(u.Targets, Target{ID: t.ID(), Target: t.String("target"), Weight: int(w)})
	}
	if err := u.Validate(); err != nil {
		return Upstream{}, fmt.Errorf("upstream %s: %w", u.Name, err)
	}
	return u, nil
}

// DefaultHealthchecks returns Kong's default health check configuration:
// everything off, with Kong's status lists. It is read from the entity
// schema's defaults so the two cannot drift apart, and decoded afresh on
// every call so callers may change the lists they get.
func DefaultHealthchecks() Healthchecks {
	e, errs := entity.Upstreams.Validate(map[string]any{"name": "defaults"}, entity.Options{})
	if errs != nil {
		panic(fmt.Sprintf("balancer: upstream schema refuses its own defaults: %v", errs))
	}
	return decodeHealthchecks(e["healthchecks"].(map[string]any))
}

// decodeHealthchecks reads a validated "healthchecks" record.
func decodeHealthchecks(hc map[string]any) Healthchecks {
	active, passive := record(hc, "active"), record(hc, "passive")
	out := Healthchecks{
		Threshold: float(hc["threshold"]),
		Active: ActiveHealthcheck{
			Type:                   str(active["type"]),
			Timeout:                seconds(active["timeout"]),
			Concurrency:            int(number(active["concurrency"])),
			HTTPPath:               str(active["http_path"]),
			HTTPSSNI:               str(active["https_sni"]),
			HTTPSVerifyCertificate: active["https_verify_certificate"] == true,
			Healthy:                decodeHealthy(record(active, "healthy")),
			Unhealthy:              decodeUnhealthy(record(active, "unhealthy")),
		},
		Passive: PassiveHealthcheck{
			Healthy:   decodeHealthy(record(passive, "healthy")),
			Unhealthy: decodeUnhealthy(record(passive, "unhealthy")),
		},
	}
	if hs, ok := active["headers"].(map[string]any); ok && len(hs) > 0 {
		out.Active.Headers = make(map[string][]string, len(hs))
		for name, vs := range hs {
			list, _ := vs.([]any)
			for _, v := range list {
				out.Active.Headers[name] = append(out.Active.Headers[name], str(v))
			}
		}
	}
	return out
}

func decodeHealthy(m map[string]any) HealthyRule {
	return HealthyRule{
		Interval:     seconds(m["interval"]),
		HTTPStatuses: intList(m["http_statuses"]),
		Successes:    int(number(m["successes"])),
	}
}

func decodeUnhealthy(m map[string]any) UnhealthyRule {
	return UnhealthyRule{
		Interval:     seconds(m["interval"]),
		HTTPStatuses: intList(m["http_statuses"]),
		TCPFailures:  int(number(m["tcp_failures"])),
		Timeouts:     int(number(m["timeouts"])),
		HTTPFailures: int(number(m["http_failures"])),
	}
}

// record returns the nested record name of m, or nil (which reads as all
// zero values) when it is absent.
func record(m map[string]any, name string) map[string]any {
	r, _ := m[name].(map[string]any)
	return r
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// number reads an integer field, which a validated entity holds as int64.
func number(v any) int64 {
	n, _ := v.(int64)
	return n
}

// float reads a number field: a validated entity holds whole numbers as
// int64 and others as float64.
func float(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	}
	return 0
}

// seconds converts Kong's fractional seconds to a duration.
func seconds(v any) time.Duration {
	return time.Duration(math.Round(float(v) * float64(time.Second)))
}

func intList(v any) []int {
	list, _ := v.([]any)
	out := make([]int, 0, len(list))
	for _, x := range list {
		out = append(out, int(number(x)))
	}
	return out
}
