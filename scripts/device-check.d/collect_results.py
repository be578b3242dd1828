# Collects the JSON lines of argv[1] into one {"results": [...]} file argv[2].
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
json.dump({"results": rows}, open(sys.argv[2], "w"), indent=1)
