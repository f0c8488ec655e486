package termshift

// Namespace is a logical database carved for one release: a MySQL schema, a
// MongoDB database, a RabbitMQ vhost or a memcached cluster.
type Namespace struct {
	Service Service `json:"service"`
	Logical string  `json:"logical"`
	Release string  `json:"release"`
	// Name is the namespace on the server: schema, database, vhost, or the
	// memcached cluster's name.
	Name string `json:"name"`
	// User is the release's own user for this namespace; empty for memcached,
	// which has no users.
	User string `json:"user,omitempty"`
}

// String names the namespace the way reports show it: "mysql edxapp_next".
func (n Namespace) String() string { return string(n.Service) + " " + Quote(n.Name) }
