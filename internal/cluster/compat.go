package cluster

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// SyncStatus says whether a control plane can serve a data plane its
// configuration. The values are Kong's (clustering_data_planes.sync_status),
// so tools that read Kong's /clustering/data-planes read Gantry's too.
type SyncStatus string

// The sync statuses. A node is SyncUnknown until the control plane has
// checked it against a configuration.
const (
	SyncUnknown SyncStatus = "unknown"
	// SyncNormal: the node can run the configuration and is sent it.
	SyncNormal SyncStatus = "normal"
	// SyncKongVersionIncompatible: the node's release cannot be served by
	// this control plane; the control plane records it and closes the
	// connection with CloseVersionIncompatible.
	SyncKongVersionIncompatible SyncStatus = "kong_version_incompatible"
	// SyncPluginSetIncompatible: a configured plugin is missing on the
	// node. The connection stays up but no configuration is sent, so the
	// node keeps serving the one it has.
	SyncPluginSetIncompatible SyncStatus = "plugin_set_incompatible"
	// SyncPluginVersionIncompatible: a configured plugin's version on the
	// node is incompatible with the control plane's; handled as
	// SyncPluginSetIncompatible.
	SyncPluginVersionIncompatible SyncStatus = "plugin_version_incompatible"
)

// versionPattern reads the major and minor of a release, ignoring the
// patch and anything after it (3.9.0.1, 0.1.0-rc.1), as Kong does.
var versionPattern = regexp.MustCompile(`^(\d+)\.(\d+)\.\d+`)

// ParseMajorMinor returns the major and minor numbers of a version written
// major.minor.patch, followed by anything. ok is false when v does not
// start that way.
func ParseMajorMinor(v string) (major, minor int, ok bool) {
	m := versionPattern.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(m[1])
	minor, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return major, minor, true
}

// Incompatibility is why a control plane does not send its configuration
// to a data plane: the sync status to report and a reason for people.
type Incompatibility struct {
	Status SyncStatus
	Reason string
}

// CheckVersion applies Kong's release rules to a data plane of release dp
// and a control plane of release cp: the majors must be equal and the data
// plane's minor must not be greater than the control plane's (an older
// data plane can run a newer control plane's configuration, a newer one
// might expect what the control plane cannot give). Patch levels and
// suffixes are ignored; a release that cannot be read is incompatible.
// It returns nil when the data plane may be served.
func CheckVersion(cp, dp string) *Incompatibility {
	incompatible := func(format string, args ...any) *Incompatibility {
		return &Incompatibility{Status: SyncKongVersionIncompatible, Reason: fmt.Sprintf(format, args...)}
	}
	cpMajor, cpMinor, ok := ParseMajorMinor(cp)
	if !ok {
		return incompatible("control plane version %q is not a major.minor.patch version", cp)
	}
	dpMajor, dpMinor, ok := ParseMajorMinor(dp)
	switch {
	case !ok:
		return incompatible("data plane version %q is not a major.minor.patch version", dp)
	case dpMajor != cpMajor:
		return incompatible("data plane version %s and control plane version %s have different major versions", dp, cp)
	case dpMinor > cpMinor:
		return incompatible("data plane version %s is newer than control plane version %s", dp, cp)
	}
	return nil
}

// CheckPlugins applies Kong's plugin rules to a data plane that has the
// plugins dp, for a configuration that uses the plugins named configured,
// on a control plane that has the plugins cp. Only configured plugins are
// checked: each must be present on the data plane (else
// SyncPluginSetIncompatible), and when both sides give its version, the
// majors must be equal and the data plane's minor must not be greater
// than the control plane's (else SyncPluginVersionIncompatible). Versions
// that cannot be read are compatible only when written identically. The
// data plane may have plugins the configuration does not use. The reason
// names every plugin at fault. It returns nil when the data plane can run
// the configuration.
func CheckPlugins(configured []string, cp, dp []Plugin) *Incompatibility {
	versionOn := func(list []Plugin) map[string]string {
		m := make(map[string]string, len(list))
		for _, p := range list {
			if _, seen := m[p.Name]; !seen {
				m[p.Name] = p.Version
			}
		}
		return m
	}
	cpVersions, dpVersions := versionOn(cp), versionOn(dp)
	names := slices.Clone(configured)
	slices.Sort(names)
	names = slices.Compact(names)

	var missing, mismatched []string
	for _, name := range names {
		dv, ok := dpVersions[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		cv := cpVersions[name]
		if cv == "" || dv == "" || pluginVersionsCompatible(cv, dv) {
			continue
		}
		mismatched = append(mismatched, fmt.Sprintf("plugin %s version %s on the data plane is incompatible with version %s on the control plane", name, dv, cv))
	}
	switch {
	case len(missing) > 0:
		return &Incompatibility{Status: SyncPluginSetIncompatible,
			Reason: "configured plugins missing on the data plane: " + strings.Join(missing, ", ")}
	case len(mismatched) > 0:
		return &Incompatibility{Status: SyncPluginVersionIncompatible, Reason: strings.Join(mismatched, "; ")}
	}
	return nil
}

// pluginVersionsCompatible applies the plugin version rule to the control
// plane's version cp and the data plane's dp.
func pluginVersionsCompatible(cp, dp string) bool {
	cpMajor, cpMinor, ok1 := ParseMajorMinor(cp)
	dpMajor, dpMinor, ok2 := ParseMajorMinor(dp)
	if !ok1 || !ok2 {
		return cp == dp
	}
	return cpMajor == dpMajor && dpMinor <= cpMinor
}
