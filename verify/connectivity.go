package verify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termshift/termshift"
)

// planConnectivity: one job per own namespace, using the release's own
// credential exactly as the application will.
func planConnectivity(t Target, _ Options) []job {
	if len(t.Own) == 0 {
		return single("-", Skip, "release has no namespaces")
	}
	var jobs []job
	for _, ns := range t.Own {
		jobs = append(jobs, job{target: nsTarget(ns), run: func(ctx context.Context) (Status, string) {
			switch ns.Service {
			case termshift.MySQL:
				return connectMySQLNamespace(ctx, t.Servers, ns)
			case termshift.MongoDB:
				return connectMongoNamespace(ctx, t.Servers, ns)
			case termshift.RabbitMQ:
				return connectVhost(ctx, t.Servers, ns)
			case termshift.Memcached:
				return connectMemcached(ctx, ns)
			}
			return Skip, fmt.Sprintf("unknown service %s", termshift.Quote(string(ns.Service)))
		}})
	}
	return jobs
}

// noServer turns a missing address into a skip: the check cannot run.
func noServer(err error) (Status, string) {
	if errors.Is(err, errNoServer) {
		return Skip, err.Error()
	}
	return Fail, err.Error()
}

func connectMySQLNamespace(ctx context.Context, s Servers, ns Namespace) (Status, string) {
	db, err := openMySQL(ctx, s, ns.Cred, ns.Name)
	if err != nil {
		return noServer(err)
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?", ns.Name).Scan(&n)
	if err != nil {
		return Fail, fmt.Sprintf("as %s on %s: %v", termshift.Quote(ns.Cred.User), mysqlAddr(s), err)
	}
	return Pass, fmt.Sprintf("connected as %s, %d tables", termshift.Quote(ns.Cred.User), n)
}

func connectMongoNamespace(ctx context.Context, s Servers, ns Namespace) (Status, string) {
	c, err := openMongo(ctx, s, &ns.Cred, ns.Name)
	if err != nil {
		return noServer(err)
	}
	defer disconnectMongo(c)
	names, err := c.Database(ns.Name).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return Fail, fmt.Sprintf("as %s on %s: list collections: %v", termshift.Quote(ns.Cred.User), mongoHosts(s), err)
	}
	return Pass, fmt.Sprintf("authenticated as %s, %d collections", termshift.Quote(ns.Cred.User), len(names))
}

// connectVhost round-trips one message through a temporary exclusive queue
// on the release's vhost via the default exchange.
func connectVhost(ctx context.Context, s Servers, ns Namespace) (Status, string) {
	conn, err := dialAMQP(ctx, s, ns.Cred, ns.Name)
	if err != nil {
		return noServer(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return Fail, fmt.Sprintf("open channel on vhost %s: %v", termshift.Quote(ns.Name), err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return Fail, fmt.Sprintf("declare temporary queue on vhost %s: %v", termshift.Quote(ns.Name), err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	body := []byte(rand.Text())
	if err := ch.PublishWithContext(ctx, "", q.Name, true, false, amqp.Publishing{Body: body}); err != nil {
		return Fail, fmt.Sprintf("publish on vhost %s: %v", termshift.Quote(ns.Name), err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, q.Name, "", true, true, false, false, nil)
	if err != nil {
		return Fail, fmt.Sprintf("consume on vhost %s: %v", termshift.Quote(ns.Name), err)
	}
	for {
		select {
		case <-ctx.Done():
			return Fail, fmt.Sprintf("published message not consumed back on vhost %s: %v", termshift.Quote(ns.Name), ctx.Err())
		case r := <-returns:
			return Fail, fmt.Sprintf("message returned on vhost %s: %s", termshift.Quote(ns.Name), r.ReplyText)
		case d, ok := <-deliveries:
			if !ok {
				return Fail, fmt.Sprintf("consumer on vhost %s closed before the message came back", termshift.Quote(ns.Name))
			}
			if string(d.Body) == string(body) {
				return Pass, fmt.Sprintf("as %s: published and consumed a message on vhost %s", termshift.Quote(ns.Cred.User), termshift.Quote(ns.Name))
			}
		}
	}
}

func connectMemcached(ctx context.Context, ns Namespace) (Status, string) {
	c, err := newMemcache(ctx, ns.Endpoints)
	if err != nil {
		return noServer(err)
	}
	defer c.Close()
	key := "termshift-verify-" + rand.Text()
	value := []byte(rand.Text())
	if err := c.Set(&memcache.Item{Key: key, Value: value, Expiration: int32(time.Minute / time.Second)}); err != nil {
		return Fail, fmt.Sprintf("set on %v: %v", ns.Endpoints, err)
	}
	it, err := c.Get(key)
	if err != nil {
		return Fail, fmt.Sprintf("get on %v: %v", ns.Endpoints, err)
	}
	if string(it.Value) != string(value) {
		return Fail, fmt.Sprintf("get on %v returned another value than was set", ns.Endpoints)
	}
	if err := c.Delete(key); err != nil {
		return Fail, fmt.Sprintf("delete on %v: %v", ns.Endpoints, err)
	}
	return Pass, fmt.Sprintf("set, get and delete on %v", ns.Endpoints)
}
