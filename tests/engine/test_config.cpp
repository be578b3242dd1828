#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "tests/support/expect_error.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

Config parse(const std::string& text) { return Config::parse(text, "exp.yaml"); }

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  std::ofstream(path) << text;
  return path;
}

TEST(Config, TypedGets) {
  Config c = parse(
      "seed: 42\n"
      "big: 9000000000\n"
      "lr: 0.1\n"
      "neg: -3\n"
      "plus: +5\n"
      "sci: 1e-4\n"
      "flag: true\n"
      "off: False\n"
      "name: resnet56\n"
      "quoted: \"007\"\n"
      "inf: .inf\n"
      "text: 'hello world'\n");
  EXPECT_EQ(c.get<int>("seed"), 42);
  EXPECT_EQ(c.get<std::int64_t>("big"), 9000000000LL);
  EXPECT_DOUBLE_EQ(c.get<double>("lr"), 0.1);
  EXPECT_DOUBLE_EQ(c.get<double>("seed"), 42.0);
  EXPECT_EQ(c.get<int>("neg"), -3);
  EXPECT_EQ(c.get<int>("plus"), 5);
  EXPECT_DOUBLE_EQ(c.get<double>("sci"), 1e-4);
  EXPECT_TRUE(c.get<bool>("flag"));
  EXPECT_FALSE(c.get<bool>("off"));
  EXPECT_EQ(c.get<std::string>("name"), "resnet56");
  EXPECT_EQ(c.get<std::string>("quoted"), "007");
  EXPECT_EQ(c.get<std::string>("seed"), "42");
  // YAML's .inf and .nan are numbers, but no setting means anything as one: rejected on read.
  EXPECT_THROW_MSG(c.get<double>("inf"), ConfigError,
                   "exp.yaml:11: key 'inf' must be a finite number, got '.inf'");
  EXPECT_EQ(c.get<std::string>("text"), "hello world");
  EXPECT_NO_THROW(c.check_all_read());
}

TEST(Config, DefaultsForAbsentAndNullKeys) {
  Config c = parse("nothing: ~\nempty:\nname: x\noptim:\n");
  EXPECT_EQ(c.get<int>("missing", 7), 7);
  EXPECT_EQ(c.get("missing", "fallback"), "fallback");
  EXPECT_EQ(c.get("name", "fallback"), "x");
  EXPECT_DOUBLE_EQ(c.get<double>("optim.lr", 0.5), 0.5);
  EXPECT_EQ(c.get<int>("nothing", 5), 5);
  EXPECT_EQ(c.get<std::vector<int>>("empty", {1, 2}), (std::vector<int>{1, 2}));
  EXPECT_TRUE(c.has("nothing"));
  EXPECT_TRUE(c.has("empty"));
  EXPECT_FALSE(c.has("missing"));
  EXPECT_FALSE(c.has("optim.lr"));
  EXPECT_FALSE(c.has("optim.sgd.lr"));
  EXPECT_DOUBLE_EQ(c.get<double>("optim.momentum", 0.9), 0.9);
  EXPECT_THROW_MSG(c.get<double>("optim.lr"), ConfigError, "exp.yaml:4: missing key 'optim.lr'");
  EXPECT_THROW_MSG(c.get<int>("name.x", 1), ConfigError,
                   "exp.yaml:3: key 'name' must be a map, got 'x'");
  EXPECT_NO_THROW(c.check_all_read());
}

TEST(Config, DottedKeysAndChildren) {
  Config c = parse(
      "seed: 1\n"
      "train:\n"
      "  optim:\n"
      "    lr: 0.05\n"
      "    momentum: 0.9\n"
      "  epochs: 160\n");
  EXPECT_DOUBLE_EQ(c.get<double>("train.optim.lr"), 0.05);
  Config train = c.child("train");
  EXPECT_EQ(train.path(), "train");
  EXPECT_EQ(train.file(), "exp.yaml");
  EXPECT_EQ(train.line(), 2);
  EXPECT_TRUE(train.is_map());
  EXPECT_EQ(train.keys(), (std::vector<std::string>{"optim", "epochs"}));
  EXPECT_EQ(train.get<int>("epochs"), 160);
  Config optim = train.child("optim");
  EXPECT_EQ(optim.path(), "train.optim");
  EXPECT_EQ(optim.line(), 3);
  EXPECT_DOUBLE_EQ(optim.get<double>("momentum"), 0.9);
  EXPECT_EQ(c.keys(), (std::vector<std::string>{"seed", "train"}));
  EXPECT_EQ(c.path(), "");
  EXPECT_EQ(c.get<int>("seed"), 1);
  EXPECT_NO_THROW(c.check_all_read());
}

TEST(Config, Sequences) {
  Config c = parse(
      "milestones: [80, 120]\n"
      "rates:\n"
      "  - 0.1\n"
      "  - 0.25\n"
      "names: [a, 'b c']\n"
      "big: [9000000000, -1]\n"
      "none: []\n"
      "methods:\n"
      "  - name: l1\n"
      "    rate: 0.5\n"
      "  - name: fpgm\n"
      "    rate: 0.3\n");
  EXPECT_EQ(c.get<std::vector<int>>("milestones"), (std::vector<int>{80, 120}));
  EXPECT_EQ(c.get<std::vector<double>>("rates"), (std::vector<double>{0.1, 0.25}));
  EXPECT_EQ(c.get<std::vector<std::string>>("names"), (std::vector<std::string>{"a", "b c"}));
  EXPECT_EQ(c.get<std::vector<std::int64_t>>("big"), (std::vector<std::int64_t>{9000000000LL, -1}));
  EXPECT_TRUE(c.get<std::vector<int>>("none").empty());
  std::vector<Config> methods = c.items("methods");
  ASSERT_EQ(methods.size(), 2u);
  EXPECT_EQ(methods[1].path(), "methods[1]");
  EXPECT_EQ(methods[1].line(), 11);
  EXPECT_EQ(methods[0].get<std::string>("name"), "l1");
  EXPECT_EQ(methods[0].get<std::string>("name"), "l1");
  EXPECT_EQ(methods[1].get<std::string>("name"), "fpgm");
  EXPECT_DOUBLE_EQ(methods[0].get<double>("rate"), 0.5);
  EXPECT_DOUBLE_EQ(methods[1].get<double>("rate"), 0.3);
  EXPECT_NO_THROW(c.check_all_read());
}

TEST(Config, MissingKeyNamesFileLineAndPath) {
  Config c = parse("seed: 1\ntrain:\n  epochs: 3\nmethods: []\n");
  EXPECT_THROW_MSG(c.get<double>("train.lr"), ConfigError, "exp.yaml:2: missing key 'train.lr'");
  EXPECT_THROW_MSG(c.get<int>("epochs"), ConfigError, "exp.yaml:1: missing key 'epochs'");
  EXPECT_THROW_MSG(c.get<int>("optim.lr"), ConfigError, "missing key 'optim.lr'");
  EXPECT_THROW_MSG(c.child("train").get<bool>("nesterov"), ConfigError,
                   "exp.yaml:2: missing key 'train.nesterov'");
  EXPECT_THROW_MSG(c.child("data"), ConfigError, "exp.yaml:1: missing key 'data'");
  EXPECT_THROW_MSG(c.items("prune"), ConfigError, "missing key 'prune'");
  EXPECT_THROW_MSG(c.mark_read("train.x"), ConfigError, "missing key 'train.x'");
  EXPECT_THROW_MSG(c.get<int>("train..x"), ConfigError, "invalid key 'train..x'");
}

TEST(Config, WrongTypeNamesLineAndValue) {
  Config c = parse(
      "seed: 42\n"
      "train:\n"
      "  lr: abc\n"
      "  epochs: 1.5\n"
      "  huge: 3000000000\n"
      "  nesterov: yes\n"
      "  optim: {a: 1}\n"
      "  milestones: [1, x]\n"
      "  steps: 3\n"
      "  count: \"12\"\n"
      "  tiny: 1e999\n"
      "  nothing: ~\n"
      "methods: [1]\n");
  EXPECT_THROW_MSG(c.get<double>("train.lr"), ConfigError,
                   "exp.yaml:3: key 'train.lr' must be a number, got 'abc'");
  EXPECT_THROW_MSG(c.get<int>("train.epochs"), ConfigError,
                   "exp.yaml:4: key 'train.epochs' must be an integer, got '1.5'");
  EXPECT_THROW_MSG(c.get<int>("train.huge"), ConfigError,
                   "exp.yaml:5: key 'train.huge' must be an integer in [-2147483648, 2147483647], "
                   "got '3000000000'");
  EXPECT_EQ(c.get<std::int64_t>("train.huge"), 3000000000LL);
  EXPECT_THROW_MSG(c.get<bool>("train.nesterov"), ConfigError,
                   "exp.yaml:6: key 'train.nesterov' must be a boolean (true or false), got 'yes'");
  EXPECT_THROW_MSG(c.get<std::string>("train.optim"), ConfigError,
                   "exp.yaml:7: key 'train.optim' must be a string, got a map");
  EXPECT_THROW_MSG(c.get<std::vector<int>>("train.milestones"), ConfigError,
                   "exp.yaml:8: key 'train.milestones[1]' must be an integer, got 'x'");
  EXPECT_THROW_MSG(c.get<std::vector<int>>("train.steps"), ConfigError,
                   "exp.yaml:9: key 'train.steps' must be a sequence, got '3'");
  EXPECT_THROW_MSG(c.get<int>("train.count"), ConfigError,
                   "exp.yaml:10: key 'train.count' must be an integer, got the quoted string '12'");
  EXPECT_THROW_MSG(c.get<double>("train.tiny"), ConfigError,
                   "exp.yaml:11: key 'train.tiny' must be a number, got '1e999'");
  EXPECT_THROW_MSG(c.get<int>("train.nothing"), ConfigError,
                   "exp.yaml:12: key 'train.nothing' must be an integer, got null");
  EXPECT_THROW_MSG(c.child("seed"), ConfigError, "exp.yaml:1: key 'seed' must be a map, got '42'");
  EXPECT_THROW_MSG(c.get<int>("seed.x"), ConfigError,
                   "exp.yaml:1: key 'seed' must be a map, got '42'");
  EXPECT_THROW_MSG(c.items("methods"), ConfigError,
                   "exp.yaml:13: key 'methods[0]' must be a map, got '1'");
  EXPECT_THROW_MSG(c.items("seed"), ConfigError, "key 'seed' must be a sequence of maps, got '42'");
  EXPECT_THROW_MSG(c.get<int>("train.lr", 3), ConfigError, "key 'train.lr' must be an integer");
}

TEST(Config, UnknownKeysAreReportedWithTheirLines) {
  Config c = parse(
      "seed: 1\n"
      "train:\n"
      "  epochs: 3\n"
      "  lrr: 0.1\n"
      "trian:\n"
      "  x: 1\n"
      "methods:\n"
      "  - name: l1\n"
      "    rat: 0.5\n");
  EXPECT_EQ(c.get<int>("seed"), 1);
  EXPECT_EQ(c.get<int>("train.epochs"), 3);
  for (const Config& m : c.items("methods")) EXPECT_EQ(m.get<std::string>("name"), "l1");
  EXPECT_THROW_MSG(c.check_all_read(), ConfigError,
                   "exp.yaml: 3 keys were not read (misspelt, or not used by this experiment):\n"
                   "  unknown key 'train.lrr' at exp.yaml:4\n"
                   "  unknown key 'trian' at exp.yaml:5\n"
                   "  unknown key 'methods[0].rat' at exp.yaml:9");
  EXPECT_THROW_MSG(c.child("train").check_all_read(), ConfigError,
                   "unknown key 'train.lrr' at exp.yaml:4");
  c.mark_read("trian");
  c.mark_read("train.lrr");
  try {
    c.check_all_read();
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "unknown key 'methods[0].rat' at exp.yaml:9");
  }
  c.mark_read("methods");
  EXPECT_NO_THROW(c.check_all_read());
}

TEST(Config, ReadMarksAreSharedAcrossHandles) {
  Config c = parse("a:\n  b: 1\n  c: 2\nd: [1]\n");
  Config copy = c;
  Config a = copy.child("a");
  EXPECT_EQ(a.get<int>("b"), 1);
  EXPECT_THROW_MSG(c.check_all_read(), ConfigError, "unknown key 'a.c' at exp.yaml:3");
  EXPECT_EQ(c.get<int>("a.c"), 2);
  EXPECT_THROW_MSG(c.check_all_read(), ConfigError, "unknown key 'd' at exp.yaml:4");
  EXPECT_TRUE(c.has("d"));
  EXPECT_THROW_MSG(c.check_all_read(), ConfigError, "unknown key 'd'");
  EXPECT_EQ(copy.get<std::vector<int>>("d"), (std::vector<int>{1}));
  EXPECT_NO_THROW(c.check_all_read());
}

TEST(Config, MalformedYamlNamesFileAndLine) {
  TempDir dir;
  const std::string path = write_file(dir, "bad.yaml", "seed: 1\ntrain:\n  lr: [0.1, 0.2\n");
  EXPECT_THROW_MSG(Config::load_file(path), ConfigError, path + ":4:1: malformed YAML: ");
  const std::string tabs = write_file(dir, "tabs.yaml", "a: 1\nb:\n\t- 1\n");
  EXPECT_THROW_MSG(Config::load_file(tabs), ConfigError, tabs + ":3:");
  EXPECT_THROW_MSG(Config::parse("a: 1\n b: 2\n", "x.yaml"), ConfigError,
                   "x.yaml:2:3: malformed YAML: ");
  EXPECT_THROW_MSG(Config::parse("a: 1\nb: 2\na: 3\n", "x.yaml"), ConfigError,
                   "x.yaml:3: duplicate key 'a' (first at line 1)");
  EXPECT_THROW_MSG(Config::parse("t:\n  a: 1\n  a: 3\n", "x.yaml"), ConfigError,
                   "x.yaml:3: duplicate key 't.a' (first at line 2)");
  EXPECT_THROW_MSG(Config::parse("- a\n- b\n", "x.yaml"), ConfigError,
                   "x.yaml:1: the document must be a map of keys, got a sequence");
  EXPECT_THROW_MSG(Config::parse("just text\n", "x.yaml"), ConfigError,
                   "x.yaml:1: the document must be a map of keys, got 'just text'");
  EXPECT_THROW_MSG(Config::parse("a: 1\n---\nb: 2\n", "x.yaml"), ConfigError,
                   "x.yaml: holds 2 YAML documents; a config is one document");
  EXPECT_THROW_MSG(Config::parse("a: 1\n[1, 2]: x\n", "x.yaml"), ConfigError,
                   "x.yaml:2: keys of '<root>' must be strings, got a structure");
  std::string deep = "a: ";
  for (int i = 0; i < 300; ++i) deep += "[";
  for (int i = 0; i < 300; ++i) deep += "]";
  EXPECT_THROW_MSG(Config::parse(deep, "x.yaml"), ConfigError, "nests deeper than 200 levels");
  EXPECT_THROW_MSG(
      Config::load_file(dir.file("absent.yaml")), ConfigError,
      "cannot open config file '" + dir.file("absent.yaml") + "': No such file or directory");
  EXPECT_THROW_MSG(Config::load_file(dir.path()), ConfigError,
                   "cannot read config file '" + dir.path() + "': it is a directory");
  std::string bomb = "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n";
  for (int i = 1; i < 8; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) bomb += (j ? ", " : "") + prev;
    bomb += "]\n";
  }
  EXPECT_THROW_MSG(Config::parse(bomb, "x.yaml"), ConfigError,
                   "the document has more than 100000 nodes");
}

TEST(Config, NonFiniteNumbersAreErrorsNamingTheKey) {
  Config c = parse("train:\n  lr: .nan\n  wd: -.Inf\n  ok: 1e300\n  list: [1, .inf]\n");
  EXPECT_THROW_MSG(c.get<double>("train.lr"), ConfigError,
                   "exp.yaml:2: key 'train.lr' must be a finite number, got '.nan'");
  EXPECT_THROW_MSG(c.get<double>("train.wd", 0.0), ConfigError,
                   "exp.yaml:3: key 'train.wd' must be a finite number, got '-.Inf'");
  EXPECT_DOUBLE_EQ(c.get<double>("train.ok"), 1e300);
  EXPECT_THROW_MSG(c.get<std::vector<double>>("train.list"), ConfigError,
                   "key 'train.list[1]' must be a finite number");
  EXPECT_DOUBLE_EQ(c.get<double>("train.missing", 0.5), 0.5);
  EXPECT_THROW_MSG(parse("x: 1e999\n").get<double>("x"), ConfigError,
                   "key 'x' must be a number, got '1e999'");
}

// Errors about a value that was read but is not acceptable point at the key's own line (or the
// override that set it), not at the line of the section holding it.
TEST(Config, ValueErrorsPointAtTheKeysLine) {
  Config c = parse("prune:\n  method: l1\n\n  rate: 1.5\n");
  Config prune = c.child("prune");
  EXPECT_EQ(prune.location("rate"), "exp.yaml:4");
  EXPECT_EQ(prune.location("absent"), "exp.yaml:1");
  ConfigError e = prune.error("rate", "must be in [0, 1)");
  EXPECT_STREQ(e.what(), "exp.yaml:4: key 'prune.rate' must be in [0, 1)");
  c.set_override("prune.rate", "2");
  EXPECT_EQ(c.child("prune").location("rate"), "--set prune.rate=2");
  EXPECT_STREQ(c.error("seed", "is bad").what(), "exp.yaml:1: key 'seed' is bad");
}

TEST(Config, LoadFileReportsItsPath) {
  TempDir dir;
  const std::string path = write_file(dir, "exp.yaml", "# comment\n\nseed: 3\nlr: x\n");
  Config c = Config::load_file(path);
  EXPECT_EQ(c.file(), path);
  EXPECT_EQ(c.get<int>("seed"), 3);
  EXPECT_THROW_MSG(c.get<double>("lr"), ConfigError, path + ":4: key 'lr' must be a number");

  Config empty = Config::load_file(write_file(dir, "empty.yaml", "# nothing\n"));
  EXPECT_TRUE(empty.keys().empty());
  EXPECT_NO_THROW(empty.check_all_read());
}

TEST(Config, DefaultConfigIsAnEmptyMap) {
  Config c;
  EXPECT_TRUE(c.is_map());
  EXPECT_TRUE(c.keys().empty());
  EXPECT_FALSE(c.has("a"));
  EXPECT_EQ(c.get<int>("a", 3), 3);
  EXPECT_EQ(c.file(), "<empty>");
  EXPECT_NO_THROW(c.check_all_read());
}

TEST(Config, OverridesReplaceAndCreateKeys) {
  Config c = parse("seed: 1\ntrain:\n  lr: 0.1\n  milestones: [1]\nsection:\n");
  c.set_override("train.lr", "0.5");
  c.set_override("train.optim.nesterov", "true");
  c.set_override("train.milestones", "[10, 20]");
  c.set_override("name", "'007'");
  c.set_override("data", "{root: /x, batch: 64}");
  c.set_override("seed", "");
  c.set_override("section.a", "1");
  EXPECT_DOUBLE_EQ(c.get<double>("train.lr"), 0.5);
  EXPECT_TRUE(c.get<bool>("train.optim.nesterov"));
  EXPECT_EQ(c.get<std::vector<int>>("train.milestones"), (std::vector<int>{10, 20}));
  EXPECT_EQ(c.get<std::string>("name"), "007");
  EXPECT_THROW_MSG(c.get<int>("name"), ConfigError, "--set name='007': key 'name'");
  EXPECT_EQ(c.get<std::string>("data.root"), "/x");
  EXPECT_EQ(c.get<int>("data.batch"), 64);
  EXPECT_TRUE(c.has("seed"));
  EXPECT_EQ(c.get<int>("seed", 9), 9);
  EXPECT_EQ(c.get<int>("section.a"), 1);
  EXPECT_EQ(c.child("train.optim").line(), 0);
  EXPECT_EQ(c.child("train").line(), 2);
  EXPECT_NO_THROW(c.check_all_read());
}

TEST(Config, OverrideErrorsNameTheOverride) {
  Config c = parse("seed: 42\ntrain:\n  lr: 0.1\n");
  c.set_override("train.lr", "abc");
  EXPECT_THROW_MSG(c.get<double>("train.lr"), ConfigError,
                   "--set train.lr=abc: key 'train.lr' must be a number, got 'abc'");
  c.set_override("train.lrr", "0.2");
  c.set_override("extra.deep", "1");
  EXPECT_THROW_MSG(c.check_all_read(), ConfigError,
                   "unknown key 'train.lrr' at --set train.lrr=0.2\n"
                   "  unknown key 'extra' at --set extra.deep=1");
  EXPECT_THROW_MSG(c.set_override("a..b", "1"), ConfigError, "--set a..b=1: invalid key 'a..b'");
  EXPECT_THROW_MSG(c.set_override("x", "[1, 2"), ConfigError, "--set x=[1, 2: invalid value: ");
  EXPECT_THROW_MSG(c.set_override("x", "a: 1"), ConfigError,
                   "--set x=a: 1: the value must be a scalar or a flow value ([a, b] or {k: v}), "
                   "got a block map");
  EXPECT_THROW_MSG(c.set_override("seed.x", "1"), ConfigError,
                   "--set seed.x=1: key 'seed' is not a map (it is '42' at exp.yaml:1)");
  EXPECT_DOUBLE_EQ(c.get<double>("seed"), 42);
}

TEST(Config, DumpRoundTrips) {
  const std::string text =
      "seed: 7\n"
      "name: \"resnet 56\"\n"
      "code: '0012'\n"
      "flag: false\n"
      "ratio: -1.5e-3\n"
      "inf: -.inf\n"
      "nothing: ~\n"
      "colon: 'a: b'\n"
      "hash: '#x'\n"
      "multi: \"line one\\nline two\"\n"
      "empty_map: {}\n"
      "empty_seq: []\n"
      "milestones: [80, 120]\n"
      "train:\n"
      "  optim:\n"
      "    lr: 0.1\n"
      "methods:\n"
      "  - name: l1\n"
      "    keep: [0, 2]\n"
      "  - name: fpgm\n";
  Config c = parse(text);
  c.set_override("train.optim.lr", "0.25");
  c.set_override("extra", "{a: [1, 2], b: 'x'}");
  const std::string dumped = c.dump();
  Config back = Config::parse(dumped, "dump.yaml");
  EXPECT_EQ(back.dump(), dumped);
  EXPECT_EQ(back.keys(), c.keys());
  EXPECT_EQ(back.get<int>("seed"), 7);
  EXPECT_EQ(back.get<std::string>("name"), "resnet 56");
  EXPECT_EQ(back.get<std::string>("code"), "0012");
  EXPECT_THROW(back.get<int>("code"), ConfigError);
  EXPECT_FALSE(back.get<bool>("flag"));
  EXPECT_DOUBLE_EQ(back.get<double>("ratio"), -1.5e-3);
  EXPECT_EQ(back.get<std::string>("inf"), "-.inf");
  EXPECT_EQ(back.get<int>("nothing", 3), 3);
  EXPECT_EQ(back.get<std::string>("colon"), "a: b");
  EXPECT_EQ(back.get<std::string>("hash"), "#x");
  EXPECT_EQ(back.get<std::string>("multi"), "line one\nline two");
  EXPECT_TRUE(back.child("empty_map").keys().empty());
  EXPECT_TRUE(back.get<std::vector<int>>("empty_seq").empty());
  EXPECT_EQ(back.get<std::vector<int>>("milestones"), (std::vector<int>{80, 120}));
  EXPECT_DOUBLE_EQ(back.get<double>("train.optim.lr"), 0.25);
  std::vector<Config> methods = back.items("methods");
  ASSERT_EQ(methods.size(), 2u);
  EXPECT_EQ(methods[0].get<std::vector<std::int64_t>>("keep"), (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(methods[0].get<std::string>("name"), "l1");
  EXPECT_EQ(methods[1].get<std::string>("name"), "fpgm");
  EXPECT_EQ(back.get<std::vector<int>>("extra.a"), (std::vector<int>{1, 2}));
  EXPECT_EQ(back.get<std::string>("extra.b"), "x");
  EXPECT_NO_THROW(back.check_all_read());

  EXPECT_EQ(c.child("train").dump(), "optim:\n  lr: 0.25\n");
  EXPECT_NE(dumped.find("milestones: [80, 120]\n"), std::string::npos) << dumped;
}

}  // namespace
}  // namespace shears::testing
