// Package search implements FHIR R4 search independently of storage: the
// extraction of index entries from resources on every write (Indexer), and
// the parsing of search requests into queries over those entries (Parser,
// Query).
//
// # Indexing
//
// NewIndexer compiles, once, the FHIRPath expression of every R4
// SearchParameter for every resource type it applies to, keeping only the
// union branches that can select something in that type. Add compiles custom
// SearchParameters (resources written before need $reindex). Index evaluates
// them over a resource with %resource set to it and converts the results by
// parameter type into Entry values, one per index row:
//
//   - string: primitives as written; HumanName family, given, prefix, suffix
//     and text; Address line, city, district, state, postalCode, country and
//     text. Entry.String is NormalizeString of Entry.Exact. A Chinese name
//     written only as text (张三) is also split into surname and given name
//     (张, 三), and one written as family and given (单, 雄信) is also indexed
//     whole (单雄信), so name= finds it either way.
//   - token: Coding and CodeableConcept codings (system, code; display and
//     CodeableConcept.text as Text for :text), Identifier (system, value, and
//     type coding for :of-type), ContactPoint (system, value), and code,
//     boolean, id, string and uri primitives as a code without system.
//   - reference: Reference.reference as written in URL and, when it ends in
//     Type/id, split into RefType and RefID; Reference.identifier for
//     :identifier; canonical and uri values likewise. Contained references
//     (#id) are kept in URL only. resolve() in expressions such as
//     subject.where(resolve() is Patient) is answered from the reference
//     text, without reading the target.
//   - date: date, dateTime, instant, Period and Timing (its outer limits) as
//     half-open [Start, End) UTC millisecond ranges at the written precision.
//     Values without a zone are local time in Indexer.Zone, China Standard
//     Time by default: a birthDate is the day in China, not in UTC.
//   - number: integer and decimal values with the range their precision
//     implies; Range as its bounds.
//   - quantity: Quantity and its specialisations, Money (ISO 4217 currency as
//     code) and Range, with value range, unit system, code and text, and the
//     value in a canonical UCUM unit for searches across units.
//   - uri: uri, url and canonical values as written.
//   - composite: one entry per combination of component values within one
//     result of the composite's expression, holding one Value per component
//     (see Entry).
//
// Identical entries of a parameter are stored once. An expression that
// stops at an Extension indexes the extension's value.
//
// # Parameters without index entries
//
// Special parameters, and parameters without an expression, are not indexed:
// _text and _content (full-text search over the narrative and the whole
// resource, a job for a text index, not for typed rows), _query (a named
// query, an operation), _filter (an expression language evaluated by the
// query side over the other parameters), near on Location (special; a
// geospatial index is needed), and the R4 Patient parameters age and
// birthOrderBoolean, which are defined without an expression. _has, _list,
// _type and the result parameters (_sort, _count, _include…) are not
// SearchParameters over a resource's content; _id, _lastUpdated, _tag,
// _profile, _security and _source are, and are indexed like the others.
//
// name-pinyin (NamePinyinURL) is a built-in custom parameter on Patient,
// Practitioner and RelatedPerson: the pinyin key and initials of each name,
// stored as string entries so that the default starts-with search finds 张三
// by zhangsan, zhang or zs.
//
// # Errors
//
// Index rejects a resource only when its type is unknown. A parameter whose
// expression fails at run time is skipped and reported as a *ParamError in
// the returned error, next to the entries of every other parameter: the
// write goes on and the error is logged, because one unusual element must
// not make a resource unstorable (a reindex after a fix restores it).
package search
