"""A placement group whose creator actor died holds its CPUs until the job ends; the sweep's callback gives them
back (what a stopped trial's Train run leaves when Ray Train's own cleaner does not run)."""

import time


def _free_cpus(ray) -> float:
    return ray.available_resources().get("CPU", 0.0)


def _wait_for(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_groups_of_dead_creators_are_removed_and_live_ones_kept(ray_cluster):
    ray = ray_cluster
    from ray.util.placement_group import placement_group, placement_group_table

    from mentalglm.tune.placement_groups import release_stranded_placement_groups

    @ray.remote(num_cpus=0)
    class Controller:
        """Stands in for a Train controller: it reserves one CPU in a placement group of its own."""

        def reserve(self):
            group = placement_group([{"CPU": 1}])
            ray.get(group.ready())
            return group

    kept_by_driver = placement_group([{"CPU": 1}])  # like Tune's own trial groups: created by the driver
    ray.get(kept_by_driver.ready())
    controller = Controller.remote()
    stranded = ray.get(controller.reserve.remote())
    assert _wait_for(lambda: _free_cpus(ray) == 0.0)
    assert release_stranded_placement_groups() == 0  # its creator is alive: nothing to give back

    ray.kill(controller)
    time.sleep(1.0)
    assert placement_group_table(stranded)["state"] == "CREATED"  # Ray itself keeps it for the job's life
    assert _free_cpus(ray) == 0.0
    assert _wait_for(lambda: release_stranded_placement_groups() == 1, 10)
    assert placement_group_table(stranded)["state"] == "REMOVED"
    assert placement_group_table(kept_by_driver)["state"] == "CREATED"
    assert _wait_for(lambda: _free_cpus(ray) == 1.0)
    ray.util.remove_placement_group(kept_by_driver)
