package envfile

// Progressive is the `progressive:` section: the defaults of a progressive
// cutover (`cutover RELEASE --steps 5,25,50,100`), each overridden by its
// flag.
//
//	progressive:
//	  interval: 2m
//	  max_error_rate: 1      # percent of 5xx answers
//	  max_p99: 500ms
//	  min_requests: 50       # fewer canary requests in a step: inconclusive
//	  failure_limit: 1       # failed analyses of a step before the rollback
//	  prometheus:
//	    url: http://prometheus:9090
//	    queries:
//	      - {name: db errors, query: 'sum(rate(lms_db_errors_total{release="{{release}}"}[{{window}}]))', condition: "< 0.1"}
type Progressive struct {
	Interval     Duration   `yaml:"interval"`
	MaxErrorRate *float64   `yaml:"max_error_rate"`
	MaxP99       Duration   `yaml:"max_p99"`
	MinRequests  *uint64    `yaml:"min_requests"`
	FailureLimit int        `yaml:"failure_limit"`
	Prometheus   *PromCheck `yaml:"prometheus"`
}

// PromCheck is the optional Prometheus provider of the analysis.
type PromCheck struct {
	URL     string      `yaml:"url"`
	Queries []PromQuery `yaml:"queries"`
}

// PromQuery is one PromQL query and the condition its value must meet.
type PromQuery struct {
	Name      string `yaml:"name"`
	Query     string `yaml:"query"`
	Condition string `yaml:"condition"`
}
