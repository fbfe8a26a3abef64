package affinityrelocator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
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
 *
 * <p>With {@code --stream}: one line {@code {"patterns": {...}}} first, then one event per line, each
 * answered at once by one line, the JSON array of the matching rules' names, sorted (for a router that
 * matches events as they arrive, without a JVM start per event). The exit codes are the same.
 */
public final class EventRulerHarness {
  private EventRulerHarness() {}

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("--stream")) {
      stream();
      return;
    }
    ObjectMapper json = new ObjectMapper();
    JsonNode input = json.readTree(System.in);
    JsonNode patterns = input == null ? null : input.get("patterns");
    JsonNode events = input == null ? null : input.get("events");
    if (patterns == null || !patterns.isObject() || events == null || !events.isArray()) {
      fail(2, "expected {\"patterns\": {name: pattern, ...}, \"events\": [event, ...]} on stdin");
    }

    Machine machine = machineOf(json, patterns);
    ObjectNode output = json.createObjectNode();
    ArrayNode matches = output.putArray("matches");
    int index = 0;
    for (JsonNode event : events) {
      if (!event.isObject()) fail(4, "event " + index + " is not a JSON object");
      ArrayNode row = matches.addArray();
      matching(json, machine, event).forEach(row::add);
      index++;
    }
    System.out.println(json.writeValueAsString(output));
  }

  private static void stream() throws Exception {
    ObjectMapper json = new ObjectMapper();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    String first = in.readLine();
    JsonNode patterns = first == null ? null : json.readTree(first).get("patterns");
    if (patterns == null || !patterns.isObject()) fail(2, "--stream: expected {\"patterns\": {name: pattern, ...}} on the first line");
    Machine machine = machineOf(json, patterns);
    int index = 0;
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      JsonNode event = json.readTree(line);
      if (event == null || !event.isObject()) fail(4, "event " + index + " is not a JSON object");
      out.println(json.writeValueAsString(matching(json, machine, event)));
      out.flush();
      index++;
    }
  }

  // The Machine is what Event Ruler offers for matching many rules at once, with EventBridge's
  // semantics for arrays in events (rulesForJSONEvent).
  private static Machine machineOf(ObjectMapper json, JsonNode patterns) throws Exception {
    Machine machine = new Machine();
    for (Map.Entry<String, JsonNode> rule : patterns.properties()) {
      try {
        machine.addRule(rule.getKey(), json.writeValueAsString(rule.getValue()));
      } catch (Exception e) {
        fail(3, "rule " + rule.getKey() + ": not a valid event pattern: " + e.getMessage());
      }
    }
    return machine;
  }

  private static List<String> matching(ObjectMapper json, Machine machine, JsonNode event) throws Exception {
    List<String> names = new ArrayList<>(machine.rulesForJSONEvent(json.writeValueAsString(event)));
    Collections.sort(names);
    return names;
  }

  private static void fail(int code, String message) {
    System.err.println("event-ruler harness: " + message);
    System.exit(code);
  }
}
