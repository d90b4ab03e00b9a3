package entity

import (
	"fmt"
	"sort"
)

// PluginInfo describes what Gantry knows of a plugin before its own schema
// exists: its name, its priority (higher runs first) and which scopes it
// accepts.
type PluginInfo struct {
	Name     string
	Priority int
	// NoConsumer plugins cannot be scoped to a consumer: they are the ones
	// that identify the consumer in the first place.
	NoConsumer bool
}

// KnownPlugins are the plugins a Gantry node can run, by name, with Kong's
// priorities. A plugin entity must name one of them.
var KnownPlugins = map[string]PluginInfo{}

func init() {
	for _, p := range []PluginInfo{
		{Name: "correlation-id", Priority: 100001},
		{Name: "cors", Priority: 2000, NoConsumer: true},
		{Name: "jwt", Priority: 1450, NoConsumer: true},
		{Name: "key-auth", Priority: 1250, NoConsumer: true},
		{Name: "basic-auth", Priority: 1100, NoConsumer: true},
		{Name: "ip-restriction", Priority: 990},
		{Name: "request-size-limiting", Priority: 951},
		{Name: "acl", Priority: 950, NoConsumer: true},
		{Name: "rate-limiting", Priority: 910},
		{Name: "request-transformer", Priority: 801},
		{Name: "response-transformer", Priority: 800},
		{Name: "proxy-cache", Priority: 100},
		{Name: "prometheus", Priority: 13},
		{Name: "http-log", Priority: 12},
	} {
		KnownPlugins[p.Name] = p
	}
}

// PluginNames returns the known plugin names, sorted.
func PluginNames() []string {
	names := make([]string, 0, len(KnownPlugins))
	for n := range KnownPlugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Plugins attach behaviour to every request, or to those of one service,
// route or consumer.
var Plugins = register(&Schema{
	Name:        "plugins",
	EndpointKey: "instance_name",
	CacheKey:    []string{"name", "route", "service", "consumer"},
	Fields: []*Field{
		idField(),
		createdAtField(),
		updatedAtField(),
		{Name: "name", Kind: String, Required: true, Check: checkPluginName},
		{Name: "instance_name", Kind: String, Unique: true, Check: checkName},
		foreignField("route", "routes", false, Cascade),
		foreignField("service", "services", false, Cascade),
		foreignField("consumer", "consumers", false, Cascade),
		{Name: "config", Kind: JSON, Default: map[string]any{}, Check: checkObject},
		{Name: "protocols", Kind: Set, Required: true, LenMin: 1, Default: strs("grpc", "grpcs", "http", "https"),
			Elements: &Field{Kind: String, OneOf: strs(Protocols...)}},
		boolField("enabled", true),
		tagsField(),
		{Name: "ordering", Kind: Record, Fields: []*Field{
			{Name: "before", Kind: Record, Fields: []*Field{{Name: "access", Kind: Array, Elements: &Field{Kind: String}}}},
			{Name: "after", Kind: Record, Fields: []*Field{{Name: "access", Kind: Array, Elements: &Field{Kind: String}}}},
		}},
	},
	Checks: []Check{checkPluginScope},
})

func checkPluginName(v any) string {
	name := v.(string)
	if _, ok := KnownPlugins[name]; !ok {
		return fmt.Sprintf("plugin '%s' not enabled; add it to the 'plugins' configuration property", name)
	}
	return ""
}

func checkObject(v any) string {
	if _, ok := v.(map[string]any); !ok {
		return "expected a record"
	}
	return ""
}

func checkPluginScope(e Entity) []FieldError {
	info := KnownPlugins[e.String("name")]
	if info.NoConsumer && e["consumer"] != nil {
		return []FieldError{{Field: "consumer", Message: "value must be null"}}
	}
	return nil
}
