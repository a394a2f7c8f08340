//! The stages of the order path a shard times, each with the name it has
//! in `/metrics`, `/stats` and `/latency?stage=`.

/// One timed stage. Every value is in nanoseconds of the monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stage {
    /// Socket read completion to the command's journal append (decode,
    /// session checks, rate limit, routing); for a command owned by another
    /// shard, to its push onto the ring.
    Intake = 0,
    /// A command's push onto the mesh ring to its owner taking it off.
    MeshHop,
    /// One journal append (write-ahead, before the engine).
    Journal,
    /// The engine: risk checks, matching, report routing.
    Engine,
    /// First report encoded into a session's outbox to the bytes handed to
    /// its writer (the write is submitted right after).
    ReportOut,
    /// Socket read completion of the oldest unanswered command to the write
    /// submission of the batch that answers it: the whole path inside the
    /// gateway.
    WireToWire,
    /// One turn of the shard's mesh loop (its duty cycle: everything the
    /// shard ran between two looks at its rings; parked time excluded).
    LoopCycle,
}

pub const STAGE_COUNT: usize = 7;

impl Stage {
    pub const ALL: [Stage; STAGE_COUNT] = [
        Stage::Intake,
        Stage::MeshHop,
        Stage::Journal,
        Stage::Engine,
        Stage::ReportOut,
        Stage::WireToWire,
        Stage::LoopCycle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Intake => "intake",
            Stage::MeshHop => "mesh_hop",
            Stage::Journal => "journal",
            Stage::Engine => "engine",
            Stage::ReportOut => "report_out",
            Stage::WireToWire => "wire_to_wire",
            Stage::LoopCycle => "loop_cycle",
        }
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

const _: () = assert!(Stage::ALL.len() == STAGE_COUNT);
const _: () = assert!(
    Stage::LoopCycle as usize == STAGE_COUNT - 1,
    "dense indices"
);
