// Package mongo reads mongodump output — directories (DB/COLL.bson with
// COLL.metadata.json, optionally gzipped) and --archive files (plain or
// gzipped) — and loads one database of it, renamed, into a target database,
// with proof: documents counted while reading against CountDocuments
// afterwards, and an order-independent hash of the documents read against the
// same hash over the documents read back.
//
// The readers stream: a collection is never held in memory, only one batch
// of documents per collection being loaded. Every BSON length is checked
// against MinBSONSize..MaxBSONSize before anything is allocated for it.
package mongo
