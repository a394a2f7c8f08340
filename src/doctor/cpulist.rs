//! The kernel's two spellings of a CPU set: lists (`0-3,8,10-11`, used by
//! sysfs `online`, `isolated`, `smp_affinity_list` and the command line) and
//! hex masks (`ff,ffffffff`, used by `default_smp_affinity`).

/// No real host has more CPUs than this; it bounds what a corrupt or hostile
/// file can make us allocate.
pub const MAX_CPUS: usize = 8192;

/// Parses a CPU list such as `0-3,8,10-11\n`. Empty (or `(null)`, which
/// some sysfs files print for an empty mask) is the empty set. The result is
/// sorted and free of duplicates.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let text = text.trim();
    if text.is_empty() || text == "(null)" {
        return Ok(Vec::new());
    }
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (parse_cpu(a)?, parse_cpu(b)?),
            None => {
                let cpu = parse_cpu(part)?;
                (cpu, cpu)
            }
        };
        if first > last {
            return Err(format!("cpu range `{part}` runs backwards"));
        }
        cpus.extend(first..=last);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

fn parse_cpu(text: &str) -> Result<usize, String> {
    let cpu: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a cpu number"))?;
    if cpu >= MAX_CPUS {
        return Err(format!("cpu {cpu} is beyond {MAX_CPUS}"));
    }
    Ok(cpu)
}

/// Parses a hex CPU mask as the kernel prints it: 32-bit groups separated by
/// commas, most significant first (`00000000,0000000f` is cpus 0-3).
pub fn parse_hex_mask(text: &str) -> Result<Vec<usize>, String> {
    let groups: Vec<&str> = text.trim().split(',').collect();
    if groups.len() * 32 > MAX_CPUS {
        return Err(format!(
            "mask `{}` is wider than {MAX_CPUS} cpus",
            text.trim()
        ));
    }
    let mut cpus = Vec::new();
    for (index_from_right, group) in groups.iter().rev().enumerate() {
        let bits = u32::from_str_radix(group, 16)
            .map_err(|_| format!("`{group}` is not a 32-bit hex group"))?;
        for bit in 0..32 {
            if bits & (1 << bit) != 0 {
                cpus.push(index_from_right * 32 + bit);
            }
        }
    }
    Ok(cpus)
}

/// Formats a set of cpus the way the kernel does: `0-3,8`.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

/// The members of `cores` that are not in `set`, in order.
pub fn missing_from(cores: &[usize], set: &[usize]) -> Vec<usize> {
    cores.iter().copied().filter(|c| !set.contains(c)).collect()
}
