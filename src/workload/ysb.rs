//! The Yahoo Streaming Benchmark's world: campaigns, each with a fixed set of ads.
//!
//! YSB keeps the ad → campaign mapping in Redis, filled with a random assignment; the stream
//! job joins every ad event with it to count events per campaign and window. Here the mapping
//! is a static table built from the scenario: a seeded shuffle, so a campaign's ads are not a
//! run of neighbouring ad ids, but the same seed always gives the same table.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::scenario::Workload;

/// The name of ad number `n` (`ad-000042`).
pub fn ad_name(n: u32) -> String {
    format!("ad-{n:06}")
}

/// The name of campaign number `n` (`campaign-0007`).
pub fn campaign_name(n: u32) -> String {
    format!("campaign-{n:04}")
}

/// ChaCha stream of the campaign shuffle: the table draws from the scenario seed, but from
/// its own stream, so it neither consumes nor shifts the event generator's numbers.
const CAMPAIGN_STREAM: u64 = 1;

/// The static ad → campaign table of an `ads` workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaigns {
    /// Ad names, by ad number.
    ads: Vec<String>,
    /// Campaign names, by campaign number.
    names: Vec<String>,
    /// Campaign number of each ad, by ad number.
    campaign: Vec<u32>,
}

impl Campaigns {
    /// The table for `workload` (`campaigns × ads_per_campaign` ads; used whatever the kind),
    /// shuffled by `seed`: every campaign gets exactly `ads_per_campaign` ads.
    pub fn new(workload: &Workload, seed: u64) -> Self {
        let (campaigns, per) = (workload.campaigns, workload.ads_per_campaign);
        let total = campaigns as usize * per as usize;
        let mut campaign: Vec<u32> =
            (0..campaigns).flat_map(|c| (0..per).map(move |_| c)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(CAMPAIGN_STREAM);
        campaign.shuffle(&mut rng);
        debug_assert_eq!(campaign.len(), total);
        Campaigns {
            ads: (0..total as u32).map(ad_name).collect(),
            names: (0..campaigns).map(campaign_name).collect(),
            campaign,
        }
    }

    /// The campaign of ad id `ad` (`ad-000042`), or `None` for an id not in the table.
    pub fn campaign_of(&self, ad: &str) -> Option<&str> {
        let n: usize = ad.strip_prefix("ad-")?.parse().ok()?;
        // `ad-42` or `ad-+00042` parse to a number too; only the exact id is in the table.
        if self.ads.get(n)? != ad {
            return None;
        }
        Some(&self.names[self.campaign[n] as usize])
    }

    /// Number of ads.
    pub fn len(&self) -> usize {
        self.ads.len()
    }

    /// Whether there are no ads (never, for a validated workload).
    pub fn is_empty(&self) -> bool {
        self.ads.is_empty()
    }

    /// Every (ad id, campaign id) pair, in ad order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.ads
            .iter()
            .zip(&self.campaign)
            .map(|(ad, &c)| (ad.as_str(), self.names[c as usize].as_str()))
    }

    /// Every campaign id, in campaign order.
    pub fn campaign_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(String::as_str)
    }

    /// The ad ids, in ad order (ad number `n` is `ad_ids()[n]`).
    pub fn ad_ids(&self) -> &[String] {
        &self.ads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_accepts_only_exact_ids() {
        let w = Workload { campaigns: 3, ads_per_campaign: 2, ..Workload::default() };
        let t = Campaigns::new(&w, 9);
        assert_eq!(t.len(), 6);
        assert!(t.campaign_of("ad-000005").is_some());
        assert_eq!(t.campaign_of("ad-000006"), None);
        assert_eq!(t.campaign_of("ad-5"), None);
        assert_eq!(t.campaign_of("ad-+00005"), None);
        assert_eq!(t.campaign_of("key-0001"), None);
        assert_eq!(
            t.campaign_ids().collect::<Vec<_>>(),
            ["campaign-0000", "campaign-0001", "campaign-0002"]
        );
    }
}
