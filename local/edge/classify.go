package edge

import (
	"net/http"
	"net/url"
	"strings"
)

// call names a request: who made it, to which service, for which operation.
type call struct {
	Caller    string `json:"caller"`
	Service   string `json:"service"`
	Operation string `json:"operation"`
}

// protocol is how a service encodes its requests and errors, which decides the shape of an
// injected fault.
type protocol int

const (
	protoJSON     protocol = iota // X-Amz-Target + JSON body (DynamoDB, SQS, EventBridge, Firehose, Kinesis)
	protoQuery                    // form body with Action=, XML answers (CloudFormation, SQS of old SDKs)
	protoRESTXML                  // S3
	protoRESTJSON                 // X-Ray
)

// targetServices maps the prefix of X-Amz-Target to the signing name, for unsigned requests.
var targetServices = map[string]string{
	"DynamoDB_20120810":        "dynamodb",
	"DynamoDBStreams_20120810": "dynamodbstreams",
	"AmazonSQS":                "sqs",
	"AWSEvents":                "events",
	"Firehose_20150804":        "firehose",
	"Kinesis_20131202":         "kinesis",
}

// classify names a request from its signature, target, action or path. form is the parsed
// form body of a query-protocol request (nil otherwise).
func classify(r *http.Request, form url.Values) (call, protocol) {
	var c call
	c.Caller, c.Service = credential(r)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		c.Operation = op
		// The target names the service better than the signing name, which DynamoDB Streams
		// shares with DynamoDB.
		if svc := targetServices[prefix]; svc != "" {
			c.Service = svc
		}
		if c.Service == "" {
			c.Service = strings.ToLower(prefix)
		}
		return c, protoJSON
	}
	action := r.URL.Query().Get("Action")
	if action == "" && form != nil {
		action = form.Get("Action")
	}
	if action != "" {
		c.Operation = action
		if c.Service == "" {
			c.Service = "unknown"
		}
		return c, protoQuery
	}
	if c.Service == "xray" {
		c.Operation = xrayOperation(r.URL.Path)
		return c, protoRESTJSON
	}
	if c.Service == "" {
		c.Service = "s3"
	}
	if c.Service == "s3" {
		c.Operation = s3Operation(r)
		return c, protoRESTXML
	}
	c.Operation = r.Method + " " + r.URL.Path
	return c, protoRESTJSON
}

// credential reads the access key and service of the SigV4 credential scope:
// Credential=<key>/<date>/<region>/<service>/aws4_request, in the header or a presigned URL.
func credential(r *http.Request) (caller, service string) {
	scope := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		if i := strings.Index(auth, "Credential="); i >= 0 {
			scope = auth[i+len("Credential="):]
			if j := strings.IndexAny(scope, ", "); j >= 0 {
				scope = scope[:j]
			}
		}
	} else {
		scope = r.URL.Query().Get("X-Amz-Credential")
	}
	parts := strings.Split(scope, "/")
	if len(parts) < 5 {
		return "anonymous", ""
	}
	return parts[0], parts[3]
}

func xrayOperation(path string) string {
	switch path {
	case "/TraceSegments":
		return "PutTraceSegments"
	case "/TraceSummaries":
		return "GetTraceSummaries"
	case "/Traces":
		return "BatchGetTraces"
	case "/TraceGraph":
		return "GetTraceGraph"
	case "/ServiceGraph":
		return "GetServiceGraph"
	case "/TelemetryRecords":
		return "PutTelemetryRecords"
	case "/GetSamplingRules":
		return "GetSamplingRules"
	case "/SamplingTargets":
		return "GetSamplingTargets"
	}
	return "POST " + path
}

// s3Operation names an S3 REST call (path-style addressing) by method, path depth and query.
func s3Operation(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	if bucket == "" {
		return "ListBuckets"
	}
	if key == "" {
		for _, sub := range []struct{ param, name string }{
			{"versioning", "BucketVersioning"}, {"encryption", "BucketEncryption"}, {"lifecycle", "BucketLifecycleConfiguration"},
			{"policy", "BucketPolicy"}, {"publicAccessBlock", "PublicAccessBlock"}, {"ownershipControls", "BucketOwnershipControls"},
			{"notification", "BucketNotificationConfiguration"}, {"tagging", "BucketTagging"}, {"acl", "BucketAcl"}, {"cors", "BucketCors"},
		} {
			if has(sub.param) {
				switch r.Method {
				case http.MethodGet:
					return "Get" + sub.name
				case http.MethodPut:
					return "Put" + sub.name
				case http.MethodDelete:
					return "Delete" + sub.name
				}
			}
		}
		switch r.Method {
		case http.MethodGet:
			switch {
			case q.Get("list-type") == "2":
				return "ListObjectsV2"
			case has("versions"):
				return "ListObjectVersions"
			case has("uploads"):
				return "ListMultipartUploads"
			case has("location"):
				return "GetBucketLocation"
			}
			return "ListObjects"
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodPost:
			if has("delete") {
				return "DeleteObjects"
			}
		}
		return r.Method + " bucket"
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case has("tagging"):
			return "GetObjectTagging"
		case has("uploadId"):
			return "ListParts"
		case has("acl"):
			return "GetObjectAcl"
		}
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodPut:
		switch {
		case has("partNumber") && r.Header.Get("X-Amz-Copy-Source") != "":
			return "UploadPartCopy"
		case has("partNumber"):
			return "UploadPart"
		case has("tagging"):
			return "PutObjectTagging"
		case r.Header.Get("X-Amz-Copy-Source") != "":
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodDelete:
		if has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		}
	}
	return r.Method + " object"
}
