package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// PredicateType is the in-toto predicate type of an SPDX document (BuildKit's intoto.PredicateSPDX).
const PredicateType = "https://spdx.dev/Document"

// Document is an SPDX 2.3 document in its JSON form (the fields syft writes for an image's packages).
type Document struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      CreationInfo   `json:"creationInfo"`
	Packages          []SPDXPackage  `json:"packages"`
	Relationships     []Relationship `json:"relationships"`
}

// CreationInfo is the document's creationInfo.
type CreationInfo struct {
	Creators []string `json:"creators"`
	Created  string   `json:"created"`
}

// SPDXPackage is one package of the document.
type SPDXPackage struct {
	Name                  string        `json:"name"`
	SPDXID                string        `json:"SPDXID"`
	VersionInfo           string        `json:"versionInfo,omitempty"`
	Supplier              string        `json:"supplier"`
	DownloadLocation      string        `json:"downloadLocation"`
	FilesAnalyzed         bool          `json:"filesAnalyzed"`
	SourceInfo            string        `json:"sourceInfo"`
	LicenseConcluded      string        `json:"licenseConcluded"`
	LicenseDeclared       string        `json:"licenseDeclared"`
	CopyrightText         string        `json:"copyrightText"`
	ExternalRefs          []ExternalRef `json:"externalRefs"`
	PrimaryPackagePurpose string        `json:"primaryPackagePurpose"`
}

// ExternalRef is a package's external reference (its purl).
type ExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

// Relationship relates two SPDX elements.
type Relationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
	RelationshipType   string `json:"relationshipType"`
}

// sourceInfo is syft's sourceInfo wording for each cataloger.
var sourceInfo = map[string]string{
	"deb":    "acquired package info from DPKG DB: ",
	"apk":    "acquired package info from APK DB: ",
	"golang": "acquired package info from go module information: ",
}

// NewDocument is the SPDX document of pkgs (as Scan returns them, sorted) named name, created at
// created (UTC, seconds) by tool ("hoist-VERSION"). The namespace is derived from the name and the
// packages, so the same packages give the same bytes.
func NewDocument(name, tool string, created time.Time, pkgs []Package) *Document {
	doc := &Document{SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT", Name: name,
		CreationInfo: CreationInfo{Creators: []string{"Tool: " + tool}, Created: created.UTC().Format(time.RFC3339)},
		Packages:     []SPDXPackage{}, Relationships: []Relationship{}}
	h := sha256.New()
	h.Write([]byte(name + "\x00"))
	seen := map[string]bool{}
	for _, p := range pkgs {
		id := spdxID(p)
		if seen[id] {
			continue // the same module in the same binary twice
		}
		seen[id] = true
		h.Write([]byte(p.PURL + "\x00" + p.Location + "\x00"))
		supplier := "NOASSERTION"
		if p.Supplier != "" {
			supplier = "Person: " + p.Supplier
		}
		doc.Packages = append(doc.Packages, SPDXPackage{Name: p.Name, SPDXID: id, VersionInfo: p.Version,
			Supplier: supplier, DownloadLocation: "NOASSERTION", SourceInfo: sourceInfo[p.Type] + p.Location,
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
			ExternalRefs:          []ExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: p.PURL}},
			PrimaryPackagePurpose: "LIBRARY"})
		doc.Relationships = append(doc.Relationships, Relationship{SPDXElementID: "SPDXRef-DOCUMENT", RelatedSPDXElement: id, RelationshipType: "DESCRIBES"})
	}
	doc.DocumentNamespace = "https://github.com/hoistbuild/hoist/sbom/" + hex.EncodeToString(h.Sum(nil))
	return doc
}

// JSON is the document's JSON encoding.
func (d *Document) JSON() ([]byte, error) { return json.Marshal(d) }
