package cluster

import (
	"strings"
	"testing"
)

func TestParseMajorMinor(t *testing.T) {
	tests := []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"0.1.0", 0, 1, true},
		{"3.9.0.1", 3, 9, true},
		{"3.10.2", 3, 10, true},
		{"1.2.3-rc.1", 1, 2, true},
		{"1.2.3+build.7", 1, 2, true},
		{"12.34.56", 12, 34, true},
		{"1.2", 0, 0, false},
		{"1", 0, 0, false},
		{"", 0, 0, false},
		{"v1.2.3", 0, 0, false},
		{"1.x.3", 0, 0, false},
		{" 1.2.3", 0, 0, false},
		{"99999999999999999999.1.0", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			major, minor, ok := ParseMajorMinor(tt.in)
			if major != tt.major || minor != tt.minor || ok != tt.ok {
				t.Errorf("ParseMajorMinor(%q) = %d, %d, %v; want %d, %d, %v", tt.in, major, minor, ok, tt.major, tt.minor, tt.ok)
			}
		})
	}
}

func TestCheckVersion(t *testing.T) {
	tests := []struct {
		name   string
		cp, dp string
		// reason is a part of the reason when incompatible, "" when
		// compatible.
		reason string
	}{
		{"same version", "0.1.0", "0.1.0", ""},
		{"older minor", "3.9.0", "3.7.0", ""},
		{"older patch", "3.9.2", "3.9.0", ""},
		{"newer patch", "3.9.0", "3.9.1", ""},
		{"suffixes ignored", "3.9.0.1", "3.9.0.0", ""},
		{"pre-release data plane", "0.1.0", "0.1.0-rc.1", ""},
		{"newer minor", "0.1.0", "0.2.0", "data plane version 0.2.0 is newer than control plane version 0.1.0"},
		{"newer minor, double digits", "3.9.0", "3.10.0", "newer than control plane version 3.9.0"},
		{"older major", "3.9.0", "2.8.0", "different major versions"},
		{"newer major", "0.1.0", "1.0.0", "different major versions"},
		{"data plane unparsable", "0.1.0", "dev", `data plane version "dev" is not`},
		{"data plane two parts", "0.1.0", "0.1", `data plane version "0.1" is not`},
		{"control plane unparsable", "dev", "0.1.0", `control plane version "dev" is not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckVersion(tt.cp, tt.dp)
			switch {
			case tt.reason == "" && got != nil:
				t.Fatalf("CheckVersion(%q, %q) = %+v, want compatible", tt.cp, tt.dp, got)
			case tt.reason == "":
			case got == nil:
				t.Fatalf("CheckVersion(%q, %q) = compatible, want %q", tt.cp, tt.dp, tt.reason)
			case got.Status != SyncKongVersionIncompatible || !strings.Contains(got.Reason, tt.reason):
				t.Fatalf("CheckVersion(%q, %q) = %+v, want %s with %q", tt.cp, tt.dp, got, SyncKongVersionIncompatible, tt.reason)
			}
		})
	}
}

func TestCheckPlugins(t *testing.T) {
	cp := []Plugin{
		{Name: "key-auth", Version: "1.2.0"},
		{Name: "cors", Version: "2.0.0"},
		{Name: "acl"},
		{Name: "custom", Version: "dev"},
	}
	tests := []struct {
		name       string
		configured []string
		dp         []Plugin
		status     SyncStatus // "" when compatible
		reason     []string   // parts of the reason
	}{
		{"nothing configured", nil, nil, "", nil},
		{"configured and present", []string{"key-auth"}, []Plugin{{Name: "key-auth", Version: "1.2.0"}}, "", nil},
		{"data plane has more", []string{"key-auth"}, []Plugin{{Name: "key-auth", Version: "1.2.0"}, {Name: "extra", Version: "9.9.9"}}, "", nil},
		{"installed but not configured is not checked", nil, []Plugin{{Name: "key-auth", Version: "9.0.0"}}, "", nil},
		{"older plugin minor", []string{"key-auth"}, []Plugin{{Name: "key-auth", Version: "1.1.0"}}, "", nil},
		{"newer plugin patch", []string{"key-auth"}, []Plugin{{Name: "key-auth", Version: "1.2.7"}}, "", nil},
		{"no version on the control plane", []string{"acl"}, []Plugin{{Name: "acl", Version: "5.0.0"}}, "", nil},
		{"no version on the data plane", []string{"cors"}, []Plugin{{Name: "cors"}}, "", nil},
		{"unknown to the control plane", []string{"mystery"}, []Plugin{{Name: "mystery", Version: "1.0.0"}}, "", nil},
		{"unparsable versions written alike", []string{"custom"}, []Plugin{{Name: "custom", Version: "dev"}}, "", nil},
		{"duplicates in the configured list", []string{"cors", "cors"}, []Plugin{{Name: "cors", Version: "2.0.0"}}, "", nil},
		{"missing plugin", []string{"key-auth"}, []Plugin{{Name: "cors", Version: "2.0.0"}},
			SyncPluginSetIncompatible, []string{"key-auth"}},
		{"several missing, all named", []string{"key-auth", "acl", "cors"}, []Plugin{{Name: "cors", Version: "2.0.0"}},
			SyncPluginSetIncompatible, []string{"acl, key-auth"}},
		{"missing wins over version", []string{"key-auth", "cors"}, []Plugin{{Name: "cors", Version: "3.0.0"}},
			SyncPluginSetIncompatible, []string{"key-auth"}},
		{"newer plugin minor", []string{"key-auth"}, []Plugin{{Name: "key-auth", Version: "1.3.0"}},
			SyncPluginVersionIncompatible, []string{"key-auth", "1.3.0", "1.2.0"}},
		{"newer plugin major", []string{"cors"}, []Plugin{{Name: "cors", Version: "3.0.0"}},
			SyncPluginVersionIncompatible, []string{"cors"}},
		{"older plugin major", []string{"cors"}, []Plugin{{Name: "cors", Version: "1.9.0"}},
			SyncPluginVersionIncompatible, []string{"cors", "1.9.0"}},
		{"unparsable versions that differ", []string{"custom"}, []Plugin{{Name: "custom", Version: "dev2"}},
			SyncPluginVersionIncompatible, []string{"custom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckPlugins(tt.configured, cp, tt.dp)
			if tt.status == "" {
				if got != nil {
					t.Fatalf("CheckPlugins = %+v, want compatible", got)
				}
				return
			}
			if got == nil || got.Status != tt.status {
				t.Fatalf("CheckPlugins = %+v, want %s", got, tt.status)
			}
			for _, part := range tt.reason {
				if !strings.Contains(got.Reason, part) {
					t.Errorf("reason %q does not name %q", got.Reason, part)
				}
			}
		})
	}
}
