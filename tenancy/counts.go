package tenancy

// Counts is what a namespace holds at one moment: rows and the next
// AUTO_INCREMENT value per "schema.table" (MySQL), documents per
// "database.collection" (MongoDB).
type Counts struct {
	Rows          map[string]int64
	AutoIncrement map[string]int64
	Documents     map[string]int64
}
