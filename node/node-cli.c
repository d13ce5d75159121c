/* node-cli.c: see node-cli.h. */
#include "node-cli.h"

#include <errno.h>
#include <json-c/json.h>

int node_cli_json_add(struct json_object *obj, const char *key, struct json_object *val,
                      bool nullable)
{
        if (!val && !nullable)
                return -ENOMEM;
        if (json_object_object_add(obj, key, val) < 0) {
                json_object_put(val);
                return -ENOMEM;
        }
        return 0;
}
