package affinityrelocator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import software.amazon.event.ruler.Machine;

/**
 * Which EventBridge rules match which events, decided by Event Ruler, AWS's open-source implementation of
 * EventBridge's event-pattern matching.
 *
 * <p>Reads one JSON document on stdin, {@code {"patterns": {"<rule>": <event pattern>, ...}, "events":
 * [<event>, ...]}}, and prints {@code {"matches": [["<rule>", ...], ...]}}: for each event, in order, the
 * names of the rules whose pattern matches it, sorted. Exit code 2: the input is not of that form; 3: a
 * pattern is not a valid event pattern (the message names the rule); 4: an event is not a JSON object.
 */
public final class EventRulerHarness {
  private EventRulerHarness() {}

  public static void main(String[] args) throws Exception {
    ObjectMapper json = new ObjectMapper();
    JsonNode input = json.readTree(System.in);
    JsonNode patterns = input == null ? null : input.get("patterns");
    JsonNode events = input == null ? null : input.get("events");
    if (patterns == null || !patterns.isObject() || events == null || !events.isArray()) {
      fail(2, "expected {\"patterns\": {name: pattern, ...}, \"events\": [event, ...]} on stdin");
    }

    // The Machine is what Event Ruler offers for matching many rules at once, with EventBridge's
    // semantics for arrays in events (rulesForJSONEvent).
    Machine machine = new Machine();
    for (Map.Entry<String, JsonNode> rule : patterns.properties()) {
      try {
        machine.addRule(rule.getKey(), json.writeValueAsString(rule.getValue()));
      } catch (Exception e) {
        fail(3, "rule " + rule.getKey() + ": not a valid event pattern: " + e.getMessage());
      }
    }

    ObjectNode output = json.createObjectNode();
    ArrayNode matches = output.putArray("matches");
    int index = 0;
    for (JsonNode event : events) {
      if (!event.isObject()) fail(4, "event " + index + " is not a JSON object");
      List<String> names = new ArrayList<>(machine.rulesForJSONEvent(json.writeValueAsString(event)));
      Collections.sort(names);
      ArrayNode row = matches.addArray();
      names.forEach(row::add);
      index++;
    }
    System.out.println(json.writeValueAsString(output));
  }

  private static void fail(int code, String message) {
    System.err.println("event-ruler harness: " + message);
    System.exit(code);
  }
}
