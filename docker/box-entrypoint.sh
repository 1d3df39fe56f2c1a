#!/bin/sh
# Entry point of the box container: wait until the odoo container has given the demo
# canteen till a key and written the box's configuration (tools/demo_box.py), take the key
# into the box's own folder, readable by the box's user only, then run the box as that
# user. A new key (the odoo container was recreated) is picked up at the next start.
set -eu

config_dir=${BOX_CONFIG_DIR:-/run/multipas-box-config}
home=/var/lib/multipas-box

waited=0
until [ -s "$config_dir/multipas-box.toml" ] && [ -s "$config_dir/key" ]; do
    if [ "$waited" -eq 0 ]; then
        echo "box: waiting for the odoo container to write $config_dir/multipas-box.toml"
    fi
    waited=$((waited + 2))
    sleep 2
done

install -o multipas-box -g multipas-box -m 0600 "$config_dir/key" "$home/key"
install -o multipas-box -g multipas-box -m 0644 "$config_dir/multipas-box.toml" "$home/multipas-box.toml"
install -d -o multipas-box -g multipas-box -m 0700 "$home/data"

exec setpriv --reuid=multipas-box --regid=multipas-box --init-groups \
    multipas-box --foreground --config "$home/multipas-box.toml" "$@"
