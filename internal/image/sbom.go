package image

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// SPDX 2.3 JSON, the subset an SBOM of a Go binary needs: one package per
// module the binary was built from (read from its embedded build info, so
// the list is exactly what was linked), the toolchain, and DEPENDS_ON
// relationships from the main module.
type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string       `json:"name"`
	SPDXID           string       `json:"SPDXID"`
	VersionInfo      string       `json:"versionInfo"`
	DownloadLocation string       `json:"downloadLocation"`
	FilesAnalyzed    bool         `json:"filesAnalyzed"`
	Checksums        []spdxSum    `json:"checksums,omitempty"`
	ExternalRefs     []spdxExtRef `json:"externalRefs,omitempty"`
	PrimaryPurpose   string       `json:"primaryPackagePurpose,omitempty"`
}

type spdxSum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExtRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// SBOM returns an SPDX 2.3 JSON document for the Go binary at path, made
// from its build info. created is the document's creation time (the commit
// time, for reproducible output).
func SBOM(path, version string, created time.Time) ([]byte, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("image: sbom: %w", err)
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("image: sbom: build info: %w", err)
	}
	sum := sha256.Sum256(bin)
	main := spdxPackage{
		Name: info.Main.Path, SPDXID: "SPDXRef-Package-main", VersionInfo: version,
		DownloadLocation: DefaultSource, PrimaryPurpose: "APPLICATION",
		Checksums:    []spdxSum{{Algorithm: "SHA256", Value: hex.EncodeToString(sum[:])}},
		ExternalRefs: []spdxExtRef{purl(info.Main.Path, version)},
	}
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              "sidekey-" + version,
		DocumentNamespace: DefaultSource + "/spdx/sidekey-" + version + "-" + hex.EncodeToString(sum[:8]),
		CreationInfo: spdxCreationInfo{
			Created:  created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: sidekey-internal-image"},
		},
		Packages: []spdxPackage{main, {
			Name: "stdlib", SPDXID: "SPDXRef-Package-stdlib", VersionInfo: info.GoVersion,
			DownloadLocation: "https://go.dev/dl/", ExternalRefs: []spdxExtRef{purl("stdlib", info.GoVersion)},
		}},
		Relationships: []spdxRelationship{
			{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: main.SPDXID},
			{Element: main.SPDXID, Type: "DEPENDS_ON", Related: "SPDXRef-Package-stdlib"},
		},
	}
	for i, dep := range info.Deps {
		if dep.Replace != nil {
			dep = dep.Replace
		}
		id := fmt.Sprintf("SPDXRef-Package-%d", i+1)
		doc.Packages = append(doc.Packages, spdxPackage{
			Name: dep.Path, SPDXID: id, VersionInfo: dep.Version,
			DownloadLocation: "NOASSERTION",
			ExternalRefs:     []spdxExtRef{purl(dep.Path, dep.Version)},
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{Element: main.SPDXID, Type: "DEPENDS_ON", Related: id})
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("image: sbom: %w", err)
	}
	return append(out, '\n'), nil
}

func purl(module, version string) spdxExtRef {
	return spdxExtRef{
		Category: "PACKAGE-MANAGER", Type: "purl",
		Locator: "pkg:golang/" + strings.ToLower(module) + "@" + version,
	}
}
