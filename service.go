package termshift

import "fmt"

// Service is one kind of shared server that releases carve namespaces on.
type Service string

// The services termshift carves on.
const (
	MySQL     Service = "mysql"
	MongoDB   Service = "mongo"
	RabbitMQ  Service = "rabbitmq"
	Memcached Service = "memcached"
)

// Services lists every service in the order commands report them.
func Services() []Service { return []Service{MySQL, MongoDB, RabbitMQ, Memcached} }

// ParseService returns the service named s.
func ParseService(s string) (Service, error) {
	for _, svc := range Services() {
		if string(svc) == s {
			return svc, nil
		}
	}
	return "", fmt.Errorf("unknown service %q (want mysql, mongo, rabbitmq or memcached)", s)
}
