package ingress

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/ferry-gw/ferry/ingress/groupwire"
	"github.com/ferry-gw/ferry/topics"
)

// topicAnswer is one topic of GET /v1/topics and the body of
// GET /v1/topics/{topic}.
type topicAnswer struct {
	Topic string `json:"topic"`
	// Records is the sum of the partitions' end-start.
	Records    int64             `json:"records"`
	Partitions []partitionAnswer `json:"partitions"`
	// Groups are the consumer groups the groups section lets read the
	// topic, with their lag per partition (one topic only, with groups
	// configured).
	Groups []groupwire.Lag `json:"groups,omitempty"`
}

type partitionAnswer struct {
	Partition   int32 `json:"partition"`
	StartOffset int64 `json:"start_offset"`
	EndOffset   int64 `json:"end_offset"`
	Records     int64 `json:"records"`
	// Leader, Replicas and ISR are sent for one topic only.
	Leader   *int32  `json:"leader,omitempty"`
	Replicas []int32 `json:"replicas,omitempty"`
	ISR      []int32 `json:"isr,omitempty"`
}

func topicJSON(ti topics.TopicInfo, detail bool) topicAnswer {
	ta := topicAnswer{Topic: ti.Topic, Records: ti.Records(), Partitions: make([]partitionAnswer, 0, len(ti.Partitions))}
	for _, p := range ti.Partitions {
		pa := partitionAnswer{Partition: p.Partition, StartOffset: p.Start, EndOffset: p.End, Records: p.End - p.Start}
		if detail {
			leader := p.Leader
			pa.Leader, pa.Replicas, pa.ISR = &leader, nonNilInts(p.Replicas), nonNilInts(p.ISR)
		}
		ta.Partitions = append(ta.Partitions, pa)
	}
	return ta
}

func nonNilInts(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// topicList serves GET /v1/topics: the topics replay may read, with their
// partitions' start and end offsets.
func (s *Server) topicList(c *fiber.Ctx) error {
	info(c).route = "topics"
	if err := s.admit(c, s.replayAccess()); err != nil {
		return err
	}
	infos, err := s.deps.Topics.Topics(c.UserContext())
	if err != nil {
		return err
	}
	out := struct {
		Topics []topicAnswer `json:"topics"`
	}{Topics: make([]topicAnswer, 0, len(infos))}
	for _, ti := range infos {
		out.Topics = append(out.Topics, topicJSON(ti, false))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

// topicDetail serves GET /v1/topics/{topic}: one topic replay may read,
// with leaders and replicas per partition.
func (s *Server) topicDetail(c *fiber.Ctx) error {
	info(c).route = "topics"
	if err := s.admit(c, s.replayAccess()); err != nil {
		return err
	}
	ti, err := s.deps.Topics.Topic(c.UserContext(), strings.Clone(c.Params("topic")))
	if err != nil {
		return err
	}
	out := topicJSON(ti, true)
	if s.deps.Groups != nil {
		lags, err := s.deps.Groups.Lags(c.UserContext(), ti)
		if err != nil {
			return err
		}
		out.Groups = groupwire.Lags(lags)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}
