"""Placement on a Ray cluster, from the nodes Ray describes (no cluster needed)."""

from bulkup.pools.raypool import _creation_error, cluster_nodes


def node(node_id, ip, cpus=4.0, alive=True, **custom):
    return {
        "NodeID": node_id,
        "NodeManagerAddress": ip,
        "Alive": alive,
        "Resources": {"CPU": cpus, "memory": 1e9, f"node:{ip}": 1.0, **custom},
    }


def test_nodes_are_named_by_ip_when_each_machine_runs_one():
    nodes = cluster_nodes([node("aa" * 28, "10.0.0.5"), node("bb" * 28, "10.0.0.6")])
    assert [n.label for n in nodes] == ["10.0.0.5", "10.0.0.6"]


def test_nodes_sharing_an_ip_get_a_short_node_id():
    nodes = cluster_nodes([node("aa" * 28, "127.0.0.1"), node("bb" * 28, "127.0.0.1")])
    assert [n.label for n in nodes] == ["127.0.0.1#aaaaaa", "127.0.0.1#bbbbbb"]


def test_dead_nodes_and_nodes_without_cpus_send_nothing():
    nodes = cluster_nodes(
        [node("aa" * 28, "10.0.0.5", alive=False), node("bb" * 28, "10.0.0.6", cpus=0), node("cc" * 28, "10.0.0.7")]
    )
    assert [n.ip for n in nodes] == ["10.0.0.7"]


def test_a_pin_matches_the_nodes_ip_id_or_custom_resource():
    [n] = cluster_nodes([node("aa" * 28, "10.0.0.5", **{"rack7-nvme": 1.0})])
    assert n.resources == ("rack7-nvme",)
    assert n.matches("10.0.0.5") and n.matches("aa" * 28) and n.matches("rack7-nvme")
    assert not n.matches("10.0.0.50") and not n.matches("CPU") and not n.matches("node:10.0.0.5")


def test_an_actor_creation_error_is_told_by_its_exception_line():
    reported = (
        "The actor died because of an error raised in its creation task, \x1b[36mray::RaySender.__init__()"
        "\x1b[39m (pid=1622, ip=127.0.0.1)\n           ^^^^^^^^\nRuntimeError: The actor with name "
        "RaySender failed to import on the worker. This may be because needed library dependencies are "
        "not installed in the worker environment:\n\n\x1b[36mray::RaySender.__init__()\x1b[39m\n"
        '  File "/srv/app/bulkup/__init__.py", line 1, in <module>\n'
        "ModuleNotFoundError: No module named 'bulkup'"
    )
    assert _creation_error(reported) == "ModuleNotFoundError: No module named 'bulkup'"
